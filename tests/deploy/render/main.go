// Command render is a small stand-in for `helm template`, used by the chart tests because no helm
// binary can be installed here. It implements the part of Helm's semantics the socketgate chart
// relies on: values.yaml deep-merged with -f overrides (null deletes a key), .Release, .Chart,
// .Capabilities, .Files.Get, .Template, sprig, include, tpl, toYaml, fromYaml, required, lookup
// (always empty, as under `helm template`), and "<no value>" scrubbing. Anything beyond that is a
// reason to extend this file, not to write templates Helm would not accept.
//
// Build (GOPATH mode, Debian packages): GO111MODULE=off GOPATH=/usr/share/gocode go build
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"sigs.k8s.io/yaml"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// apiVersions mirrors Helm's .Capabilities.APIVersions: templates only call Has.
type apiVersions []string

func (a apiVersions) Has(v string) bool {
	for _, x := range a {
		if x == v {
			return true
		}
	}
	return false
}

type kubeVersion struct{ Version, Major, Minor, GitVersion string }

type capabilities struct {
	KubeVersion kubeVersion
	APIVersions apiVersions
}

// files mirrors Helm's .Files for the calls the chart makes.
type files map[string][]byte

func (f files) Get(name string) string      { return string(f[name]) }
func (f files) GetBytes(name string) []byte { return f[name] }

func readYAML(path string) (map[string]interface{}, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]interface{}{}
	if err := yaml.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// merge overlays src onto dst the way Helm coalesces user values onto chart defaults.
func merge(dst, src map[string]interface{}) map[string]interface{} {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		sm, sok := v.(map[string]interface{})
		dm, dok := dst[k].(map[string]interface{})
		if sok && dok {
			dst[k] = merge(dm, sm)
		} else {
			dst[k] = v
		}
	}
	return dst
}

// chartMeta turns Chart.yaml keys into Helm's exported field names (appVersion -> AppVersion).
func chartMeta(raw map[string]interface{}) map[string]interface{} {
	out := map[string]interface{}{}
	for k, v := range raw {
		name := strings.ToUpper(k[:1]) + k[1:]
		if k == "apiVersion" {
			name = "APIVersion"
		}
		out[name] = v
	}
	return out
}

func main() {
	var valueFiles multiFlag
	chartDir := flag.String("chart", "", "chart directory")
	release := flag.String("name", "socketgate", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	valuesOut := flag.String("values-out", "", "write the merged values as JSON to this file")
	notes := flag.Bool("notes", false, "render templates/NOTES.txt instead of the manifests")
	valuesOnly := flag.Bool("values-only", false, "stop after writing -values-out (schema checks come before rendering, as in Helm)")
	clusterFile := flag.String("cluster", "", "YAML list of objects that lookup finds (stands for the cluster; none = helm template)")
	flag.Var(&valueFiles, "f", "values file (repeatable, later wins)")
	flag.Parse()
	if err := run(*chartDir, *release, *namespace, *valuesOut, *clusterFile, *notes, *valuesOnly, valueFiles); err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
}

func run(chartDir, release, namespace, valuesOut, clusterFile string, notes, valuesOnly bool, valueFiles []string) error {
	if chartDir == "" {
		return errors.New("-chart is required")
	}
	chartRaw, err := readYAML(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return err
	}
	chartName, _ := chartRaw["name"].(string)
	values, err := readYAML(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return err
	}
	for _, f := range valueFiles {
		over, err := readYAML(f)
		if err != nil {
			return err
		}
		values = merge(values, over)
	}
	if valuesOut != "" {
		b, _ := json.MarshalIndent(values, "", "  ")
		if err := os.WriteFile(valuesOut, b, 0o644); err != nil {
			return err
		}
	}
	if valuesOnly {
		return nil
	}

	// Every file outside templates/ is visible to .Files, as in Helm (no .helmignore needed here).
	chartFiles := files{}
	var templateNames []string
	sources := map[string]string{}
	err = filepath.Walk(chartDir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(chartDir, p)
		rel = filepath.ToSlash(rel)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.HasPrefix(rel, "templates/") {
			name := chartName + "/" + rel
			sources[name] = string(b)
			templateNames = append(templateNames, name)
		} else {
			chartFiles[rel] = b
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(templateNames)

	var clusterObjects []map[string]interface{}
	if clusterFile != "" {
		b, err := os.ReadFile(clusterFile)
		if err != nil {
			return err
		}
		if err := yaml.Unmarshal(b, &clusterObjects); err != nil {
			return err
		}
	}

	root := template.New("root").Option("missingkey=zero")
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env") // Helm removes these so renders do not depend on the machine
	delete(funcs, "expandenv")
	funcs["toYaml"] = func(v interface{}) string {
		b, err := yaml.Marshal(v)
		if err != nil {
			return ""
		}
		return strings.TrimSuffix(string(b), "\n")
	}
	funcs["fromYaml"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := yaml.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	funcs["toJson"] = func(v interface{}) string { b, _ := json.Marshal(v); return string(b) }
	funcs["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return nil, errors.New(msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return nil, errors.New(msg)
		}
		return v, nil
	}
	// lookup answers from -cluster (objects standing for what the cluster holds), else empty: like
	// `helm template`, which cannot reach a cluster.
	funcs["lookup"] = func(apiVersion, kind, ns, name string) (map[string]interface{}, error) {
		for _, o := range clusterObjects {
			meta, _ := o["metadata"].(map[string]interface{})
			if o["apiVersion"] == apiVersion && o["kind"] == kind && meta["namespace"] == ns && meta["name"] == name {
				return o, nil
			}
		}
		return map[string]interface{}{}, nil
	}
	funcs["include"] = func(name string, data interface{}) (string, error) {
		var buf bytes.Buffer
		err := root.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := root.Clone()
		if err != nil {
			return "", err
		}
		t, err = t.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		err = t.Execute(&buf, data)
		return strings.ReplaceAll(buf.String(), "<no value>", ""), err
	}
	root.Funcs(funcs)
	for _, name := range templateNames {
		if _, err := root.New(name).Parse(sources[name]); err != nil {
			return err
		}
	}

	caps := capabilities{
		KubeVersion: kubeVersion{Version: "v1.29.0", Major: "1", Minor: "29", GitVersion: "v1.29.0"},
		APIVersions: apiVersions{"v1", "apps/v1", "policy/v1", "autoscaling/v2", "networking.k8s.io/v1",
			"monitoring.coreos.com/v1", "keda.sh/v1alpha1"},
	}
	data := func(name string) map[string]interface{} {
		return map[string]interface{}{
			"Values":       values,
			"Chart":        chartMeta(chartRaw),
			"Release":      map[string]interface{}{"Name": release, "Namespace": namespace, "Service": "Helm", "IsInstall": true, "IsUpgrade": false, "Revision": 1},
			"Capabilities": caps,
			"Files":        chartFiles,
			"Template":     map[string]interface{}{"Name": name, "BasePath": chartName + "/templates"},
		}
	}

	var out bytes.Buffer
	for _, name := range templateNames {
		base := filepath.Base(name)
		isNotes := base == "NOTES.txt"
		if strings.HasPrefix(base, "_") || isNotes != notes {
			continue
		}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name, data(name)); err != nil {
			return err
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if strings.TrimSpace(text) == "" {
			continue
		}
		if notes {
			out.WriteString(text)
			continue
		}
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", name, strings.Trim(text, "\n"))
	}
	_, err = os.Stdout.Write(out.Bytes())
	return err
}
