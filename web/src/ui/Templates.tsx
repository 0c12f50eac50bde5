// Message templates as WhatsApp has them: every status (rejected and paused marked), the body
// with its parameters, the last sync; "Sincronizar agora" asks the back end to sync, and
// template:updated events keep the list live (live/socket.ts → reduceTemplates).
import { useMutation, useQuery } from "@tanstack/react-query";
import { api, errorMessage } from "../api/client";
import type { Template, TemplatesPage } from "../api/types";
import { TIME_ZONE, variaveisDe } from "../lib/format";

export const TEMPLATES_TODOS = ["templates", "todos"] as const;

const quando = new Intl.DateTimeFormat("pt-BR", { timeZone: TIME_ZONE, dateStyle: "short", timeStyle: "short" });

const STATUS: Record<string, string> = {
  approved: "Aprovado",
  pending: "Em análise",
  rejected: "Rejeitado",
  paused: "Pausado",
  disabled: "Desativado",
  in_appeal: "Em recurso",
  pending_deletion: "Exclusão pendente",
  deleted: "Excluído",
  archived: "Arquivado",
  limit_exceeded: "Limite excedido",
};
const PROBLEMA = new Set(["rejected", "paused", "disabled", "deleted", "limit_exceeded"]);
const CATEGORIA: Record<string, string> = { marketing: "Marketing", utility: "Utilidade", authentication: "Autenticação" };

type ComSync = Template & { last_synced_at?: string | null };

export function Templates() {
  const lista = useQuery({ queryKey: TEMPLATES_TODOS, queryFn: () => api<TemplatesPage>("/templates?status=todos&limit=500") });
  const sincronizar = useMutation({
    mutationFn: () => api<{ templates?: number; changed?: number }>("/templates/sync", { method: "POST" }),
    onSuccess: () => void lista.refetch(),
  });
  const itens = [...(lista.data?.items ?? [])].sort((a, b) => a.name.localeCompare(b.name) || a.language.localeCompare(b.language)) as ComSync[];
  const ultima = itens.reduce<string | null>((m, t) => (t.last_synced_at && (!m || t.last_synced_at > m) ? t.last_synced_at : m), null);
  return (
    <section className="pagina templates" aria-labelledby="templates-titulo">
      <h2 id="templates-titulo">Templates</h2>
      <div className="acoes-pagina">
        <button type="button" onClick={() => sincronizar.mutate()} disabled={sincronizar.isPending}>
          {sincronizar.isPending ? "Sincronizando…" : "Sincronizar agora"}
        </button>
        <p className="dica">Última sincronização: {ultima ? quando.format(new Date(ultima)) : "nunca"}</p>
      </div>
      {sincronizar.isError && <p role="alert" className="erro">{errorMessage(sincronizar.error)}</p>}
      {sincronizar.isSuccess && (
        <p role="status">Sincronizado: {sincronizar.data.templates ?? 0} templates, {sincronizar.data.changed ?? 0} alterados.</p>
      )}
      {lista.isError && <p role="alert" className="erro">{errorMessage(lista.error)}</p>}
      {lista.data && itens.length === 0 && <p className="vazio">Nenhum template. Sincronize com o WhatsApp.</p>}
      <ul className="cartoes" aria-label="Templates">
        {itens.map((t) => (
          <li key={t.id} className={PROBLEMA.has(t.status) ? "problema" : ""} aria-label={`${t.name} (${t.language})`}>
            <h3>
              {t.name} <span className="idioma">{t.language}</span>
            </h3>
            <p>
              <span className={`etiqueta status-${t.status}`}>{PROBLEMA.has(t.status) ? "⚠ " : ""}{STATUS[t.status] ?? t.status}</span>{" "}
              <span className="etiqueta">{CATEGORIA[t.category] ?? t.category}</span>
            </p>
            <p className="corpo">{t.body || "(sem corpo de texto)"}</p>
            {variaveisDe(t.variables).length > 0 && (
              <p className="dica">
                Parâmetros:{" "}
                {variaveisDe(t.variables)
                  .map((v) => `{{${v.name}}}${v.example ? ` (ex.: ${v.example})` : ""}`)
                  .join(", ")}
              </p>
            )}
            <p className="dica">Sincronizado em {t.last_synced_at ? quando.format(new Date(t.last_synced_at)) : "—"}</p>
          </li>
        ))}
      </ul>
    </section>
  );
}
