// What one WebSocket frame holds: the drain packs a round of events into a batch frame; a
// reply to our ping comes alone. The drain delivers at least once, so an event may come
// again (same id) after a drain was retried: it is applied once.
import type { LiveBatch, LiveEvent } from "../api/types";

// Ids remembered for repeats: a repeat comes within a few drain rounds, never thousands later.
export const REMEMBERED_IDS = 5_000;

export function eventsOf(raw: string): LiveEvent[] {
  let frame: LiveBatch | LiveEvent | { type: "pong" };
  try {
    frame = JSON.parse(raw) as LiveBatch | LiveEvent | { type: "pong" };
  } catch {
    return [];
  }
  if (typeof frame !== "object" || frame === null) return [];
  if (frame.type === "pong") return [];
  if (frame.type === "batch") return Array.isArray((frame as LiveBatch).events) ? (frame as LiveBatch).events : [];
  return [frame as LiveEvent];
}

/** A filter that lets each event id through once (events without an id always pass). */
export function onlyOnce(limit = REMEMBERED_IDS): (event: LiveEvent) => boolean {
  const seen = new Set<string>();
  return (event) => {
    const id = event.id;
    if (!id) return true;
    if (seen.has(id)) return false;
    seen.add(id);
    if (seen.size > limit) seen.delete(seen.values().next().value as string); // the oldest (insertion order)
    return true;
  };
}
