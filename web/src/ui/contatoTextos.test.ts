import { describe, expect, it } from "vitest";
import { eventoEmPalavras } from "./contatoTextos";

describe("eventoEmPalavras", () => {
  const nomes = { "a1": "Ana", "b2": "Bia" };
  it("names the attendant of an assignment", () => {
    expect(eventoEmPalavras({ tipo: "conversa_atribuida", dados: { atendente_id: "a1" } }, nomes)).toBe("Atribuída a Ana");
    expect(eventoEmPalavras({ tipo: "conversa_transferida", dados: { anterior_id: "a1", atendente_id: "b2" } }, nomes)).toBe("Transferida de Ana para Bia");
  });
  it("says what the customer wrote to opt out", () => {
    expect(eventoEmPalavras({ tipo: "opt_out", dados: { texto: "PARAR", source: "whatsapp_message" } })).toBe("Opt-out: PARAR");
  });
  it("explains a conversation returned by a deactivation", () => {
    expect(eventoEmPalavras({ tipo: "conversa_liberada", dados: { anterior_id: "b2", motivo: "atendente_desativado" } }, nomes)).toBe("Devolvida à fila (Bia foi desativado)");
  });
  it("opens and journeys in words", () => {
    expect(eventoEmPalavras({ tipo: "conversa_aberta" })).toBe("Conversa aberta");
    expect(eventoEmPalavras({ tipo: "jornada_alterada", dados: { de: "novo", para: "qualificado" } })).toBe("Jornada: Novo → Qualificado");
  });
});
