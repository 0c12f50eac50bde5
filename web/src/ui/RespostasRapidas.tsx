// Quick replies: typing "/" in the composer offers them, filled for this contact; the settings
// page manages them.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, errorMessage } from "../api/client";
import type { RespostaRapida, RespostasRapidasOut } from "../api/types";

export function useSugestoes(conversaId: string, texto: string): RespostaRapida[] {
  const ativo = /^\/[\w-]*$/.test(texto);
  const respostas = useQuery({
    queryKey: ["respostas-rapidas", conversaId],
    queryFn: () => api<RespostasRapidasOut>(`/respostas-rapidas?conversa_id=${conversaId}`),
    enabled: ativo,
    staleTime: 30_000,
  });
  if (!ativo) return [];
  const busca = texto.slice(1).toLowerCase();
  return (respostas.data?.items ?? []).filter((r) => r.atalho.startsWith(busca) || r.titulo.toLowerCase().includes(busca)).slice(0, 6);
}

export function textoDe(r: RespostaRapida): string {
  return r.conteudo_preenchido ?? r.conteudo;
}

export function PickerRespostas({ sugestoes, onEscolher }: { sugestoes: RespostaRapida[]; onEscolher: (texto: string) => void }) {
  if (sugestoes.length === 0) return null;
  return (
    <ul className="respostas-sugeridas" aria-label="Respostas rápidas">
      {sugestoes.map((r) => (
        <li key={r.id}>
          <button type="button" onClick={() => onEscolher(textoDe(r))}>
            <strong>/{r.atalho}</strong> {r.titulo}
            <span className="previa">{textoDe(r)}</span>
          </button>
        </li>
      ))}
    </ul>
  );
}

export function GerenciarRespostas() {
  const client = useQueryClient();
  const respostas = useQuery({ queryKey: ["respostas-rapidas"], queryFn: () => api<RespostasRapidasOut>("/respostas-rapidas") });
  const [atalho, setAtalho] = useState("");
  const [titulo, setTitulo] = useState("");
  const [conteudo, setConteudo] = useState("");
  const [erro, setErro] = useState<string | null>(null);
  const atualizar = () => client.invalidateQueries({ queryKey: ["respostas-rapidas"] });

  return (
    <section aria-labelledby="respostas-titulo" className="cartao">
      <h2 id="respostas-titulo">Respostas rápidas</h2>
      <p className="dica">
        Digite <kbd>/</kbd> na conversa para usá-las. Use {"{{nome}}"}, {"{{primeiro_nome}}"}, {"{{instrumento}}"} para preencher com os dados do contato.
      </p>
      <ul aria-label="Respostas rápidas cadastradas" className="lista-respostas">
        {(respostas.data?.items ?? []).map((r) => (
          <li key={r.id}>
            <strong>/{r.atalho}</strong> — {r.titulo}
            <p className="previa">{r.conteudo}</p>
            <button
              type="button"
              aria-label={`Apagar /${r.atalho}`}
              onClick={async () => {
                try {
                  await api(`/respostas-rapidas/${r.id}`, { method: "DELETE" });
                  await atualizar();
                } catch (error) {
                  setErro(errorMessage(error));
                }
              }}
            >
              Apagar
            </button>
          </li>
        ))}
      </ul>
      <form
        aria-label="Nova resposta rápida"
        onSubmit={async (e) => {
          e.preventDefault();
          setErro(null);
          try {
            await api<RespostaRapida>("/respostas-rapidas", { method: "POST", body: { atalho, titulo, conteudo } });
            setAtalho("");
            setTitulo("");
            setConteudo("");
            await atualizar();
          } catch (error) {
            setErro(errorMessage(error));
          }
        }}
      >
        <label htmlFor="rr-atalho">Atalho</label>
        <input id="rr-atalho" required placeholder="/preco" value={atalho} onChange={(e) => setAtalho(e.target.value)} />
        <label htmlFor="rr-titulo">Título</label>
        <input id="rr-titulo" required value={titulo} onChange={(e) => setTitulo(e.target.value)} />
        <label htmlFor="rr-conteudo">Texto</label>
        <textarea id="rr-conteudo" required rows={3} value={conteudo} onChange={(e) => setConteudo(e.target.value)} />
        <button type="submit">Adicionar resposta rápida</button>
        {erro && (
          <p role="alert" className="erro">
            {erro}
          </p>
        )}
      </form>
    </section>
  );
}
