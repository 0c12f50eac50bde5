import { describe, expect, it } from "vitest";
import type { ConversaItem, LiveEvent, Mensagem, TemplatesPage } from "../api/types";
import { type Filtro, type InboxData, type MensagensData, PENDING_PREFIX, pertence, reduceConversa, reduceInbox, reduceMensagens, reduceTemplates, statusSeguinte, upsertMensagem } from "./reducers";

const ME = "00000000-0000-0000-0000-00000000000a";
const OUTRO = "00000000-0000-0000-0000-00000000000b";
const todas: Filtro = { aba: "todas", janela: "", busca: "" };

function conversa(id: string, at: string, extra: Partial<ConversaItem> = {}): ConversaItem {
  return {
    id, contato_id: `ct-${id}`, status: "ativa", atendente_id: null, atendente: null, atribuida_em: null,
    window_expires_at: "2030-01-01T00:00:00Z", closed_at: null, ultima_atividade_em: at, nao_lidas: 0,
    created_at: at, updated_at: at, janela_aberta: true, ultima_mensagem: null,
    contato: { id: `ct-${id}`, nome: `Contato ${id}`, nome_perfil: null, nome_exibicao: `Contato ${id}`, telefone: "+5511999990000", tipo: "interessado", estado_jornada: "novo" },
    ...extra,
  } as ConversaItem;
}

function mensagem(id: string, conversaId: string, extra: Partial<Mensagem> = {}): Mensagem {
  return { id, conversa_id: conversaId, direcao: "entrada", tipo: "texto", conteudo: `texto ${id}`, status_envio: "recebida", enviado_por: null, created_at: "2026-12-01T12:00:00Z", ...extra } as Mensagem;
}

function inbox(...items: ConversaItem[]): InboxData {
  return { pages: [{ items, next_cursor: null }], pageParams: [null] };
}

const ids = (data: InboxData | undefined) => data!.pages.flatMap((p) => p.items.map((c) => c.id));

describe("inbox", () => {
  const base = inbox(conversa("b", "2026-12-01T10:00:00Z"), conversa("a", "2026-12-01T09:00:00Z"));

  it("conversation:new puts the new conversation at the top", () => {
    const e: LiveEvent = { type: "conversation:new", data: { conversa: conversa("c", "2026-12-01T11:00:00Z") } };
    expect(ids(reduceInbox(base, e, todas, ME))).toEqual(["c", "b", "a"]);
  });

  it("conversation:updated moves a conversation by its activity and replaces its counts", () => {
    const e: LiveEvent = { type: "conversation:updated", data: { conversa: conversa("a", "2026-12-01T11:00:00Z", { nao_lidas: 3 }) } };
    const out = reduceInbox(base, e, todas, ME);
    expect(ids(out)).toEqual(["a", "b"]);
    expect(out!.pages[0]!.items[0]!.nao_lidas).toBe(3);
  });

  it("conversation:assigned changes the assignee in place and leaves 'Sem atendente'", () => {
    const taken = conversa("b", "2026-12-01T10:00:00Z", { atendente_id: OUTRO, atendente: { id: OUTRO, nome: "Bruno" } });
    const e: LiveEvent = { type: "conversation:assigned", data: { conversa: taken, anterior_id: null } };
    expect(reduceInbox(base, e, todas, ME)!.pages[0]!.items[0]!.atendente?.nome).toBe("Bruno");
    expect(ids(reduceInbox(base, e, { ...todas, aba: "sem" }, ME))).toEqual(["a"]);
    expect(ids(reduceInbox(base, e, { ...todas, aba: "minhas" }, ME))).toEqual(["a"]);
  });

  it("conversation:closed leaves active lists and enters 'Encerradas'", () => {
    const closed = conversa("b", "2026-12-01T10:00:00Z", { status: "encerrada" });
    const e: LiveEvent = { type: "conversation:closed", data: { conversa: closed } };
    expect(ids(reduceInbox(base, e, { ...todas, aba: "sem" }, ME))).toEqual(["a"]);
    expect(ids(reduceInbox(inbox(), e, { ...todas, aba: "encerradas" }, ME))).toEqual(["b"]);
  });

  it("message:new updates the preview and moves the conversation up", () => {
    const e: LiveEvent = { type: "message:new", data: { conversa_id: "a", mensagem: mensagem("m1", "a", { conteudo: "Oi!", created_at: "2026-12-01T11:30:00Z" }) } };
    const out = reduceInbox(base, e, todas, ME);
    expect(ids(out)).toEqual(["a", "b"]);
    expect(out!.pages[0]!.items[0]!.ultima_mensagem?.conteudo).toBe("Oi!");
  });

  it("message:updated refreshes the preview of the last message only", () => {
    const withLast = inbox(conversa("a", "2026-12-01T09:00:00Z", { ultima_mensagem: { id: "m1", direcao: "entrada", tipo: "media", conteudo: "", created_at: "2026-12-01T09:00:00Z" } }));
    const e: LiveEvent = { type: "message:updated", data: { conversa_id: "a", mensagem: mensagem("m1", "a", { conteudo: "foto" }) } };
    expect(reduceInbox(withLast, e, todas, ME)!.pages[0]!.items[0]!.ultima_mensagem?.conteudo).toBe("foto");
  });

  it("conversation:window_closed marks the window closed and leaves 'janela aberta'", () => {
    const e: LiveEvent = { type: "conversation:window_closed", data: { conversa_id: "a", contato_id: "ct-a", window_expires_at: "2026-12-01T09:00:00Z" } };
    expect(reduceInbox(base, e, todas, ME)!.pages[0]!.items[1]!.janela_aberta).toBe(false);
    expect(ids(reduceInbox(base, e, { ...todas, janela: "aberta" }, ME))).toEqual(["b"]);
  });

  it("a search list keeps what the server matched and adds nothing", () => {
    const e: LiveEvent = { type: "conversation:new", data: { conversa: conversa("c", "2026-12-01T11:00:00Z") } };
    expect(ids(reduceInbox(base, e, { ...todas, busca: "ana" }, ME))).toEqual(["b", "a"]);
  });

  it("message:status and template:updated leave the inbox alone; an older conversation waits for its page", () => {
    const paged: InboxData = { pages: [{ items: [conversa("b", "2026-12-01T10:00:00Z")], next_cursor: "x" }], pageParams: [null] };
    const older: LiveEvent = { type: "conversation:new", data: { conversa: conversa("z", "2026-11-01T10:00:00Z") } };
    expect(ids(reduceInbox(paged, older, todas, ME))).toEqual(["b"]);
    const status: LiveEvent = { type: "message:status", data: { mensagem_id: "m", whatsapp_id: "w", conversa_id: "b", status_envio: "lida", billing_category: null, erro: null } };
    expect(reduceInbox(base, status, todas, ME)).toEqual(base);
  });

  it("filters decide membership", () => {
    expect(pertence(conversa("a", "x", { atendente_id: ME }), { ...todas, aba: "minhas" }, ME)).toBe(true);
    expect(pertence(conversa("a", "x", { status: "encerrada" }), { ...todas, aba: "minhas" }, ME)).toBe(false);
    expect(pertence(conversa("a", "x", { janela_aberta: false }), { ...todas, janela: "fechada" }, ME)).toBe(true);
  });
});

describe("conversation header", () => {
  const c = conversa("a", "2026-12-01T09:00:00Z");
  it("takes the server's item from conversation events and ignores other conversations", () => {
    const e: LiveEvent = { type: "conversation:assigned", data: { conversa: { ...c, atendente_id: ME }, anterior_id: null } };
    expect(reduceConversa(c, e)!.atendente_id).toBe(ME);
    const other: LiveEvent = { type: "conversation:updated", data: { conversa: conversa("z", "2026-12-01T09:00:00Z") } };
    expect(reduceConversa(c, other)).toBe(c);
  });
  it("closes the window", () => {
    const e: LiveEvent = { type: "conversation:window_closed", data: { conversa_id: "a", contato_id: "ct-a", window_expires_at: "2026-12-01T09:00:00Z" } };
    expect(reduceConversa(c, e)!.janela_aberta).toBe(false);
  });
});

describe("messages", () => {
  const data: MensagensData = { pages: [{ items: [mensagem("m2", "a"), mensagem("m1", "a")], next_cursor: null }], pageParams: [null] };

  it("message:new adds the newest first, once", () => {
    const e: LiveEvent = { type: "message:new", data: { conversa_id: "a", mensagem: mensagem("m3", "a") } };
    const out = reduceMensagens(data, "a", e)!;
    expect(out.pages[0]!.items.map((m) => m.id)).toEqual(["m3", "m2", "m1"]);
    expect(reduceMensagens(out, "a", e)!.pages[0]!.items).toHaveLength(3);
    expect(reduceMensagens(data, "other", e)).toBe(data);
  });

  it("message:updated replaces a placeholder with the media", () => {
    const e: LiveEvent = { type: "message:updated", data: { conversa_id: "a", mensagem: mensagem("m1", "a", { thumbnail_url: "http://x/t.jpg" }) } };
    expect(reduceMensagens(data, "a", e)!.pages[0]!.items[1]!.thumbnail_url).toBe("http://x/t.jpg");
  });

  it("message:status moves ticks forward only, and a failure carries its reason", () => {
    const sent = upsertMensagem(data, mensagem("s1", "a", { direcao: "saida", status_envio: "enviada" }));
    const status = (s: Mensagem["status_envio"], erro: { code: number; title: string; message: string } | null = null): LiveEvent => ({
      type: "message:status", data: { mensagem_id: "s1", whatsapp_id: "w", conversa_id: "a", status_envio: s, billing_category: null, erro },
    });
    const read = reduceMensagens(reduceMensagens(sent, "a", status("lida")), "a", status("entregue"))!;
    expect(read.pages[0]!.items[0]!.status_envio).toBe("lida");
    const failed = reduceMensagens(sent, "a", status("falhou", { code: 131047, title: "Re-engagement", message: "Mais de 24 h" }))!;
    expect(failed.pages[0]!.items[0]!.status_envio).toBe("falhou");
    expect((failed.pages[0]!.items[0] as { erro?: { message: string } }).erro?.message).toBe("Mais de 24 h");
  });

  it("the live echo of our own send replaces the pending bubble", () => {
    const pending = upsertMensagem(data, mensagem(`${PENDING_PREFIX}k`, "a", { direcao: "saida", status_envio: "pendente", conteudo: "Olá" }));
    const e: LiveEvent = { type: "message:new", data: { conversa_id: "a", mensagem: mensagem("real", "a", { direcao: "saida", status_envio: "enviada", conteudo: "Olá" }) } };
    expect(reduceMensagens(pending, "a", e)!.pages[0]!.items.map((m) => m.id)).toEqual(["real", "m2", "m1"]);
  });

  it("status order", () => {
    expect(statusSeguinte("entregue", "enviada")).toBe("entregue");
    expect(statusSeguinte("pendente", "enviada")).toBe("enviada");
    expect(statusSeguinte("lida", "falhou")).toBe("falhou");
  });
});

describe("templates", () => {
  it("template:updated replaces or adds the template", () => {
    const t = { id: "t1", name: "boas_vindas", language: "pt_BR", category: "utility", status: "pending", body: "Oi {{1}}", variables: [] } as TemplatesPage["items"][number];
    const data: TemplatesPage = { items: [t], next_cursor: null };
    const e: LiveEvent = { type: "template:updated", data: { template: { ...t, status: "approved" } } };
    expect(reduceTemplates(data, e)!.items[0]!.status).toBe("approved");
    const novo: LiveEvent = { type: "template:updated", data: { template: { ...t, id: "t2" } } };
    expect(reduceTemplates(data, novo)!.items).toHaveLength(2);
  });
});
