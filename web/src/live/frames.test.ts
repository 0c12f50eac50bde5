import { describe, expect, it } from "vitest";
import type { LiveEvent } from "../api/types";
import { eventsOf, onlyOnce } from "./frames";

const closed = (id: string | null, contato = "k1"): LiveEvent => ({
  id,
  type: "conversation:window_closed",
  data: { conversa_id: "c1", contato_id: contato, window_expires_at: "2026-12-01T12:00:00Z" },
});

describe("live frames", () => {
  it("a batch frame yields its events in order; a pong or garbage yields none", () => {
    const frame = JSON.stringify({ type: "batch", events: [closed("1-0"), closed("1-1", "k2")] });
    expect(eventsOf(frame).map((e) => e.id)).toEqual(["1-0", "1-1"]);
    expect(eventsOf(JSON.stringify({ type: "pong" }))).toEqual([]);
    expect(eventsOf("{not json")).toEqual([]);
    expect(eventsOf("null")).toEqual([]);
    expect(eventsOf(JSON.stringify({ type: "batch", events: "x" }))).toEqual([]);
  });

  it("a lone event (an older server) is still applied", () => {
    expect(eventsOf(JSON.stringify(closed(null)))).toHaveLength(1);
  });

  it("a repeated id is applied once; the memory is bounded, oldest forgotten first", () => {
    const once = onlyOnce(2);
    expect([closed("1-0"), closed("1-1"), closed("1-0")].filter(once).map((e) => e.id)).toEqual(["1-0", "1-1"]);
    expect(once(closed("2-0"))).toBe(true); // forgets 1-0
    expect(once(closed("1-0"))).toBe(true);
    expect(once(closed("2-0"))).toBe(false);
    expect(once(closed(null))).toBe(true);
    expect(once(closed(null))).toBe(true);
  });
});
