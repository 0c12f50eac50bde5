// A message's menu: reply to it (the composer quotes it, WhatsApp gets context.message_id) or
// react to it (shown on the message, not as a new bubble; the same emoji again removes it).
import { useQueryClient } from "@tanstack/react-query";
import { createContext, useContext, useState } from "react";
import { api, errorMessage } from "../api/client";
import type { EnviarMensagemOut, EnviarReacao, Mensagem } from "../api/types";
import { type MensagensData, upsertMensagem } from "../live/reducers";

export const EMOJIS = ["👍", "❤️", "😂", "😮", "🙏"];

type Acoes = { conversaId: string; podeResponder: boolean; responder: (m: Mensagem) => void };
export const AcoesContext = createContext<Acoes | null>(null);

export function reacaoEnviada(m: Mensagem): string | null {
  const r = (m.dados as { reacao_enviada?: { emoji?: string } } | null)?.reacao_enviada;
  return r && typeof r.emoji === "string" && r.emoji ? r.emoji : null;
}

export function citacaoDe(m: Mensagem): string | null {
  const r = (m.dados as { responde_a?: { conteudo?: string } } | null)?.responde_a;
  return r ? r.conteudo || "Mensagem" : null;
}

export function AcoesMensagem({ m }: { m: Mensagem }) {
  const acoes = useContext(AcoesContext);
  const client = useQueryClient();
  const [aberto, setAberto] = useState(false);
  const [erro, setErro] = useState<string | null>(null);
  if (!acoes || !acoes.podeResponder || !m.whatsapp_id) return null;
  const atual = reacaoEnviada(m);

  const reagir = async (emoji: string) => {
    setErro(null);
    try {
      const body: EnviarReacao = { tipo: "reacao", mensagem_id: m.id, emoji };
      const out = await api<EnviarMensagemOut>(`/conversas/${acoes.conversaId}/mensagens`, { method: "POST", body });
      client.setQueryData<MensagensData>(["mensagens", acoes.conversaId], (d) => (d ? upsertMensagem(d, out.mensagem as Mensagem) : d));
      setAberto(false);
    } catch (error) {
      setErro(errorMessage(error));
    }
  };

  return (
    <div className="acoes-mensagem">
      <button type="button" className="abrir-acoes" aria-expanded={aberto} aria-label="Ações da mensagem" onClick={() => setAberto(!aberto)}>
        ⋯
      </button>
      {aberto && (
        <div role="group" aria-label="Responder ou reagir" className="menu-acoes">
          <button
            type="button"
            onClick={() => {
              acoes.responder(m);
              setAberto(false);
            }}
          >
            Responder
          </button>
          {EMOJIS.map((e) => (
            <button key={e} type="button" aria-label={`Reagir com ${e}`} aria-pressed={atual === e} onClick={() => void reagir(atual === e ? "" : e)}>
              {e}
            </button>
          ))}
          {atual && (
            <button type="button" onClick={() => void reagir("")}>
              Remover reação
            </button>
          )}
        </div>
      )}
      {erro && (
        <p role="alert" className="erro">
          {erro}
        </p>
      )}
    </div>
  );
}
