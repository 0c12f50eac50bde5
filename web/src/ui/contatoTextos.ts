// A contact's timeline (`eventos`) in words, and the names of its enums. Pure: unit-tested.

export const JORNADA: Record<string, string> = {
  novo: "Novo",
  em_atendimento: "Em atendimento",
  qualificado: "Qualificado",
  aula_experimental: "Aula experimental",
  matriculado: "Matriculado",
  perdido: "Perdido",
};
export const TIPO: Record<string, string> = { interessado: "Interessado", aluno: "Aluno", responsavel: "Responsável", outro: "Outro" };
export const ORIGEM: Record<string, string> = {
  organico: "Orgânico",
  anuncio: "Anúncio",
  indicacao: "Indicação",
  campanha: "Campanha",
  site: "Site",
  outro: "Outro",
};
const FONTE: Record<string, string> = {
  whatsapp_message: "mensagem no WhatsApp",
  whatsapp_user_preferences: "preferências do WhatsApp",
  whatsapp_first_message: "primeira mensagem no WhatsApp",
  whatsapp_webhook: "WhatsApp",
};

export interface EventoLike {
  tipo: string;
  dados?: Record<string, unknown> | null;
}

function texto(v: unknown): string | null {
  return typeof v === "string" && v.trim() ? v : null;
}

/** One timeline row in Portuguese; `nomes` maps an attendant's id to their name. */
export function eventoEmPalavras(e: EventoLike, nomes: Record<string, string> = {}): string {
  const d = e.dados ?? {};
  const quem = (id: unknown) => (typeof id === "string" ? (nomes[id] ?? "um atendente") : "ninguém");
  switch (e.tipo) {
    case "contato_criado":
      return "Contato criado";
    case "conversa_aberta":
      return "Conversa aberta";
    case "conversa_atribuida":
      return `Atribuída a ${quem(d.atendente_id)}`;
    case "conversa_transferida":
      return `Transferida de ${quem(d.anterior_id)} para ${quem(d.atendente_id)}`;
    case "conversa_liberada":
      return d.motivo === "atendente_desativado"
        ? `Devolvida à fila (${quem(d.anterior_id)} foi desativado)`
        : `Liberada por ${quem(d.anterior_id)}`;
    case "conversa_encerrada":
      return "Conversa encerrada";
    case "conversa_reaberta":
      return "Conversa reaberta";
    case "opt_out": {
      const t = texto(d.texto) ?? texto(d.conteudo);
      return t ? `Opt-out: ${t}` : `Opt-out (${FONTE[String(d.source)] ?? "WhatsApp"})`;
    }
    case "opt_in":
      return `Opt-in (${FONTE[String(d.source)] ?? "WhatsApp"})`;
    case "jornada_alterada":
      return `Jornada: ${JORNADA[String(d.de)] ?? d.de ?? "—"} → ${JORNADA[String(d.para)] ?? d.para}`;
    case "contato_atualizado": {
      const campos = d.campos && typeof d.campos === "object" ? Object.keys(d.campos) : [];
      return campos.length ? `Contato editado (${campos.join(", ")})` : "Contato editado";
    }
    case "interessado_registrado":
      return `Ficha de interessado preenchida${texto(d.instrumento_desejado) ? `: ${d.instrumento_desejado}` : ""}`;
    case "interessado_atualizado":
      return "Ficha de interessado atualizada";
    case "referral": {
      const r = (d.referral && typeof d.referral === "object" ? d.referral : {}) as Record<string, unknown>;
      const titulo = texto(r.headline) ?? texto(r.source_id);
      return `Veio de um anúncio${titulo ? `: ${titulo}` : ""}`;
    }
    case "dados_exportados":
      return "Dados exportados (LGPD)";
    case "contato_anonimizado":
      return "Contato anonimizado (LGPD)";
    case "telefone_atualizado":
    case "numero_alterado":
      return "Número de telefone alterado";
    default:
      return e.tipo.replace(/_/g, " ");
  }
}
