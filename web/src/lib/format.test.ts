import { describe, expect, it } from "vitest";
import { chaveDia, formatHora, formatQuando, janelaTexto, previewTemplate, variaveisDe } from "./format";

describe("window countdown", () => {
  const agora = new Date("2026-12-01T12:00:00Z");
  it("says the time left", () => {
    expect(janelaTexto(true, "2026-12-02T11:15:00Z", agora)).toBe("Janela: 23 h 15 min restantes");
    expect(janelaTexto(true, "2026-12-01T12:42:30Z", agora)).toBe("Janela: 42 min restantes");
  });
  it("says closed when closed or past", () => {
    expect(janelaTexto(false, "2026-12-02T11:15:00Z", agora)).toBe("Janela fechada");
    expect(janelaTexto(true, "2026-12-01T11:59:00Z", agora)).toBe("Janela fechada");
    expect(janelaTexto(true, null, agora)).toBe("Janela fechada");
  });
});

describe("São Paulo time", () => {
  it("formats hours and days in America/Sao_Paulo whatever the machine's zone", () => {
    expect(formatHora("2026-12-01T02:30:00Z")).toBe("23:30");
    expect(chaveDia("2026-12-01T02:30:00Z")).toBe("2026-11-30");
    expect(formatQuando("2026-12-01T02:30:00Z", new Date("2026-12-01T12:00:00Z"))).toBe("30/11/2026");
  });
});

describe("template preview", () => {
  const variaveis = variaveisDe([{ component: "body", name: "1", example: "Ana" }, { component: "body", name: "curso" }, "junk"]);
  it("fills each placeholder as it is typed", () => {
    expect(variaveis.map((v) => v.name)).toEqual(["1", "curso"]);
    expect(previewTemplate("Olá {{1}}, sua aula de {{curso}} é amanhã.", variaveis, ["Ana"])).toBe("Olá Ana, sua aula de {{curso}} é amanhã.");
    expect(previewTemplate("Olá {{1}}, sua aula de {{ curso }} é amanhã.", variaveis, ["Ana", "violão"])).toBe("Olá Ana, sua aula de violão é amanhã.");
    expect(previewTemplate(null, [], [])).toBe("");
  });
});
