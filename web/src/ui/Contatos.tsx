// The "Contatos" page: search by name or phone, pages of 30, and the contact's panel.
import { useInfiniteQuery } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { Link } from "wouter";
import { api, errorMessage } from "../api/client";
import type { components } from "../api/schema";
import { ContatoPainel } from "./ContatoPainel";
import { JORNADA } from "./contatoTextos";

type ContatosPage = components["schemas"]["ContatosPage"];
type Contato = components["schemas"]["Contato"] & { nome_perfil?: string | null };

export function Contatos({ selecionado }: { selecionado: string | null }) {
  const [texto, setTexto] = useState("");
  const [busca, setBusca] = useState("");
  useEffect(() => {
    const t = setTimeout(() => setBusca(texto.trim()), 300);
    return () => clearTimeout(t);
  }, [texto]);
  const lista = useInfiniteQuery({
    queryKey: ["contatos", busca],
    queryFn: ({ pageParam }) =>
      api<ContatosPage>(`/contatos?limit=30${busca ? `&busca=${encodeURIComponent(busca)}` : ""}${pageParam ? `&cursor=${encodeURIComponent(pageParam)}` : ""}`),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
  });
  const itens = (lista.data?.pages ?? []).flatMap((p) => p.items) as Contato[];
  return (
    <div className={`pagina contatos ${selecionado ? "com-selecao" : ""}`}>
      <section aria-labelledby="contatos-titulo" className="contatos-lista">
        <h2 id="contatos-titulo">Contatos</h2>
        <label className="busca">
          Buscar contato
          <input type="search" value={texto} onChange={(e) => setTexto(e.target.value)} placeholder="Nome, telefone ou @usuário" />
        </label>
        {lista.isError && <p role="alert" className="erro">{errorMessage(lista.error)}</p>}
        {lista.data && itens.length === 0 && <p className="vazio">Nenhum contato encontrado.</p>}
        <ul aria-label="Lista de contatos">
          {itens.map((c) => (
            <li key={c.id} className={c.id === selecionado ? "atual" : ""}>
              <Link href={`/contatos/${c.id}`} aria-current={c.id === selecionado ? "page" : undefined}>
                <strong>{c.anonimizado ? "Contato anonimizado" : c.nome_exibicao}</strong>
                <span className="dica">
                  {c.telefone ?? (c.username ? `@${c.username}` : "sem telefone")} · {JORNADA[c.estado_jornada] ?? c.estado_jornada}
                </span>
              </Link>
            </li>
          ))}
        </ul>
        {lista.hasNextPage && (
          <button type="button" className="mais" onClick={() => void lista.fetchNextPage()} disabled={lista.isFetchingNextPage}>
            Carregar mais contatos
          </button>
        )}
      </section>
      <section className="contatos-detalhe" aria-label="Detalhes do contato">
        {selecionado ? (
          <>
            <Link href="/contatos" className="voltar-lista">
              ← Voltar para os contatos
            </Link>
            <ContatoPainel key={selecionado} id={selecionado} />
          </>
        ) : (
          <p className="vazio">Escolha um contato.</p>
        )}
      </section>
    </div>
  );
}
