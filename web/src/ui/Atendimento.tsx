import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { ApiError, api, errorMessage } from "../api/client";
import type { ConversaItem } from "../api/types";

type Acao = "atribuir" | "transferir" | "liberar" | "encerrar" | "reabrir";

/** Take, transfer, release, close, reopen: only the buttons that apply to this conversation now. */
export function Atendimento({ conversa, meId }: { conversa: ConversaItem; meId: string }) {
  const client = useQueryClient();
  const [erro, setErro] = useState<string | null>(null);
  const [ocupado, setOcupado] = useState(false);
  const [transferindo, setTransferindo] = useState(false);
  const [destino, setDestino] = useState("");
  const admins = useQuery({
    queryKey: ["administradores"],
    queryFn: () => api<{ items: { id: string; nome: string }[] }>("/administradores?limit=100"),
    enabled: transferindo,
  });

  const fazer = async (acao: Acao, body?: unknown) => {
    setOcupado(true);
    setErro(null);
    try {
      await api(`/conversas/${conversa.id}/${acao}`, { method: "POST", body: body ?? {} });
      setTransferindo(false);
    } catch (error) {
      if (error instanceof ApiError && error.code === "AssignedToOther") {
        const nome = (error.body.atendente as { nome?: string } | undefined)?.nome;
        setErro(nome ? `${nome} já assumiu esta conversa.` : error.message);
      } else {
        setErro(errorMessage(error));
      }
    } finally {
      setOcupado(false);
      // The server's truth, whatever happened (the live event usually got here first).
      void client.invalidateQueries({ queryKey: ["conversa", conversa.id] });
      void client.invalidateQueries({ queryKey: ["conversas"] });
    }
  };

  const minha = conversa.atendente_id === meId;
  const livre = conversa.atendente_id === null;
  const ativa = conversa.status === "ativa";
  return (
    <div className="atendimento">
      <div role="group" aria-label="Atendimento" className="botoes">
        {ativa && !minha && livre && (
          <button type="button" disabled={ocupado} onClick={() => void fazer("atribuir")}>
            Assumir
          </button>
        )}
        {ativa && minha && (
          <button type="button" disabled={ocupado} onClick={() => setTransferindo((t) => !t)} aria-expanded={transferindo}>
            Transferir
          </button>
        )}
        {ativa && minha && (
          <button type="button" disabled={ocupado} onClick={() => void fazer("liberar")}>
            Liberar
          </button>
        )}
        {ativa && (minha || livre) && (
          <button type="button" disabled={ocupado} onClick={() => void fazer("encerrar")}>
            Encerrar
          </button>
        )}
        {!ativa && (
          <button type="button" disabled={ocupado} onClick={() => void fazer("reabrir")}>
            Reabrir
          </button>
        )}
      </div>
      {transferindo && (
        <form
          className="transferir"
          onSubmit={(e) => {
            e.preventDefault();
            if (destino) void fazer("transferir", { atendente_id: destino });
          }}
        >
          <label htmlFor="destino">Transferir para</label>
          <select id="destino" value={destino} onChange={(e) => setDestino(e.target.value)} required>
            <option value="">Escolha…</option>
            {(admins.data?.items ?? [])
              .filter((a) => a.id !== meId)
              .map((a) => (
                <option key={a.id} value={a.id}>
                  {a.nome}
                </option>
              ))}
          </select>
          <button type="submit" disabled={ocupado || !destino}>
            Confirmar transferência
          </button>
        </form>
      )}
      {erro && (
        <p role="alert" className="erro">
          {erro}
        </p>
      )}
    </div>
  );
}
