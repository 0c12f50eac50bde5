import { describe, expect, it } from "vitest";
import type { LiveEvent, Mensagem, Nota } from "../api/types";
import { linhaDoTempo } from "../ui/Notas";
import { reduceNotas } from "./notas";

const nota = (id: string, em: string, conversa_id = "c1"): Nota => ({ id, conversa_id, autor_id: null, autor_nome: "Ana", conteudo: id, mencoes: [], created_at: em });
const msg = (id: string, em: string) => ({ id, created_at: em }) as Mensagem;

describe("notes", () => {
  it("note:new adds the note once, in time order, to its conversation only", () => {
    const data = { items: [nota("n2", "2026-01-01T10:00:00Z")] };
    const e: LiveEvent = { type: "note:new", data: { conversa_id: "c1", nota: nota("n1", "2026-01-01T09:00:00Z") } };
    const depois = reduceNotas(data, "c1", e)!;
    expect(depois.items.map((n) => n.id)).toEqual(["n1", "n2"]);
    expect(reduceNotas(depois, "c1", e)).toBe(depois);
    expect(reduceNotas(data, "c2", e)).toBe(data);
  });

  it("the timeline interleaves notes and messages; older notes wait for their page", () => {
    const linha = linhaDoTempo([msg("m1", "2026-01-01T10:00:00Z"), msg("m2", "2026-01-01T12:00:00Z")], [nota("n0", "2026-01-01T08:00:00Z"), nota("n1", "2026-01-01T11:00:00Z")], false);
    expect(linha.map((i) => (i.tipo === "nota" ? i.n.id : i.m.id))).toEqual(["m1", "n1", "m2"]);
    const completa = linhaDoTempo([msg("m1", "2026-01-01T10:00:00Z")], [nota("n0", "2026-01-01T08:00:00Z")], true);
    expect(completa.map((i) => (i.tipo === "nota" ? i.n.id : i.m.id))).toEqual(["n0", "m1"]);
  });
});
