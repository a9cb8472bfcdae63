// The suite's Prometheus text reader: a wrong match here would make every metric assertion vacuous.
import { describe, expect, it } from "vitest";
import { metricValue } from "../support/metrics.js";

const TEXT = [
  "# HELP socketgate_connections Open connections",
  "# TYPE socketgate_connections gauge",
  'socketgate_connections{transport="websocket"} 7',
  'socketgate_connections{transport="polling"} 2',
  "socketgate_connections_max 1000",
  'socketgate_events_total{event="room:join",outcome="ok"} 3',
  'socketgate_events_total{event="room:join",outcome="error"} 1',
  "socketgate_draining 0",
].join("\n");

describe("metricValue", () => {
  it("reads an unlabelled series, and never a labelled one when no labels are asked for", () => {
    expect(metricValue(TEXT, "socketgate_connections_max")).toBe(1000);
    expect(metricValue(TEXT, "socketgate_draining")).toBe(0);
    expect(metricValue(TEXT, "socketgate_connections")).toBeUndefined();
    expect(metricValue(TEXT, "socketgate_events_total")).toBeUndefined();
  });

  it("matches every asked label and ignores names that only share a prefix", () => {
    expect(metricValue(TEXT, "socketgate_connections", { transport: "polling" })).toBe(2);
    expect(metricValue(TEXT, "socketgate_events_total", { event: "room:join", outcome: "error" })).toBe(1);
    expect(metricValue(TEXT, "socketgate_events_total", { event: "room:join", outcome: "rejected" })).toBeUndefined();
    expect(metricValue(TEXT, "socketgate_connection")).toBeUndefined();
  });
});
