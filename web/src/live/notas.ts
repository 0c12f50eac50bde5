// Internal notes in the query cache (["notas", conversa_id]): the live note:new event adds one.
import type { LiveEvent, Nota } from "../api/types";

export type NotasData = { items: Nota[] };

export function reduceNotas(data: NotasData | undefined, conversaId: string, event: LiveEvent): NotasData | undefined {
  if (!data || event.type !== "note:new" || event.data.conversa_id !== conversaId) return data;
  const nota = event.data.nota;
  if (data.items.some((n) => n.id === nota.id)) return data;
  return { items: [...data.items, nota].sort((a, b) => a.created_at.localeCompare(b.created_at)) };
}
