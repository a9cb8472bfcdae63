// Reads one value from a Prometheus text exposition: without labels, only an unlabelled series matches.
export async function scrape(opsUrl: string): Promise<string> {
  const res = await fetch(`${opsUrl}/metrics`);
  return res.text();
}

export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels);
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = new Map([...(m[3] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!]));
    if (want.every(([k, v]) => got.get(k) === v) && (want.length > 0 || got.size === 0)) return Number(m[4]);
  }
  return undefined;
}
