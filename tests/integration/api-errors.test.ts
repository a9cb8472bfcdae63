// The backend API logs what it did not expect and answers it as a readable, retryable 503 (and counts it).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startInProcess, type InProcess } from "../support/in-process-gateway.js";
import { TEST_API_KEY } from "../support/tokens.js";

let gw: InProcess;
beforeAll(async () => {
  gw = await startInProcess();
});
afterAll(async () => {
  await gw?.gateway.close();
});

const publish = (body: unknown) =>
  fetch(`${gw.url}/v1/publish`, {
    method: "POST",
    headers: { authorization: `Bearer ${TEST_API_KEY}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });

describe("backend API failures", () => {
  it("logs an unexpected failure at error level and answers 503 UNAVAILABLE without internals", async () => {
    const count = async (status: string) =>
      (await gw.gateway.metrics.apiRequests.get()).values.find((v) => v.labels.route === "/v1/publish" && v.labels.status === status)?.value;
    const [u0, b0] = [await count("503"), await count("400")];
    expect([u0, b0]).toEqual([0, 0]);
    const history = gw.gateway.cluster.history;
    const append = history.append.bind(history);
    history.append = () => Promise.reject(new Error("disk on fire (internal detail)"));
    try {
      const res = await publish({ room: "r1", event: "message", data: "x" });
      expect(res.status).toBe(503);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe("UNAVAILABLE");
      expect(body.error.message).not.toContain("disk on fire");
      const line = gw.logs.find((l) => l.msg === "backend API request failed");
      expect(line?.level).toBe("error");
      expect(JSON.stringify(line?.err)).toContain("disk on fire");
    } finally {
      history.append = append;
    }
    // Client faults are answered, not logged as failures.
    const bad = await publish({ room: "r1" });
    expect(bad.status).toBe(400);
    expect(gw.logs.filter((l) => l.msg === "backend API request failed")).toHaveLength(1);
    // Both answers are counted under their status: the 5xx the API error-ratio alert watches, and the refusal.
    expect([await count("503"), await count("400")]).toEqual([1, 1]);
  });
});
