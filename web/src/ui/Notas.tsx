// Internal notes: written by any attendant, shown in the timeline, never sent to the customer.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, errorMessage } from "../api/client";
import type { Mensagem, Nota } from "../api/types";
import { formatHora } from "../lib/format";
import type { NotasData } from "../live/notas";

export function useNotas(conversaId: string): Nota[] {
  const notas = useQuery({ queryKey: ["notas", conversaId], queryFn: () => api<NotasData>(`/conversas/${conversaId}/notas`) });
  return notas.data?.items ?? [];
}

export type ItemLinha = { tipo: "mensagem"; m: Mensagem; em: string } | { tipo: "nota"; n: Nota; em: string };

/** Messages (oldest first) and notes in one timeline; notes older than the loaded messages wait for their page. */
export function linhaDoTempo(mensagens: Mensagem[], notas: Nota[], completa: boolean): ItemLinha[] {
  const desde = completa ? "" : (mensagens[0]?.created_at ?? "\uffff");
  const itens: ItemLinha[] = mensagens.map((m) => ({ tipo: "mensagem", m, em: m.created_at }));
  for (const n of notas) if (n.created_at >= desde) itens.push({ tipo: "nota", n, em: n.created_at });
  return itens.sort((a, b) => new Date(a.em).getTime() - new Date(b.em).getTime());
}

export function NotaInterna({ n }: { n: Nota }) {
  return (
    <aside className="nota" aria-label={`Nota interna de ${n.autor_nome ?? "atendente"}`}>
      <p className="nota-rotulo">Nota interna · só a equipe vê</p>
      <p className="texto">{n.conteudo}</p>
      <footer>
        <span className="autor">{n.autor_nome ?? "Atendente removido"}</span>
        <time dateTime={n.created_at}>{formatHora(n.created_at)}</time>
      </footer>
    </aside>
  );
}

export function FormNota({ conversaId, onFechar }: { conversaId: string; onFechar: () => void }) {
  const client = useQueryClient();
  const [texto, setTexto] = useState("");
  const [erro, setErro] = useState<string | null>(null);
  const [salvando, setSalvando] = useState(false);
  return (
    <form
      className="form-nota"
      aria-label="Nova nota interna"
      onSubmit={async (e) => {
        e.preventDefault();
        if (!texto.trim() || salvando) return;
        setSalvando(true);
        try {
          const nota = await api<Nota>(`/conversas/${conversaId}/notas`, { method: "POST", body: { conteudo: texto.trim() } });
          client.setQueryData<NotasData>(["notas", conversaId], (d) => (d ? { items: d.items.some((x) => x.id === nota.id) ? d.items : [...d.items, nota] } : { items: [nota] }));
          setTexto("");
          onFechar();
        } catch (error) {
          setErro(errorMessage(error));
        } finally {
          setSalvando(false);
        }
      }}
    >
      <label htmlFor="nota-texto">Nota interna (não vai para o cliente; @nome avisa um colega)</label>
      <textarea id="nota-texto" rows={2} value={texto} onChange={(e) => setTexto(e.target.value)} />
      <div className="botoes">
        <button type="submit" disabled={salvando || !texto.trim()}>
          Salvar nota
        </button>
        <button type="button" onClick={onFechar}>
          Cancelar nota
        </button>
      </div>
      {erro && (
        <p role="alert" className="erro">
          {erro}
        </p>
      )}
    </form>
  );
}
