import { useQuery, useQueryClient } from "@tanstack/react-query";
import { type KeyboardEvent, useRef, useState } from "react";
import { ApiError, api, errorMessage } from "../api/client";
import type { ConversaItem, EnviarMedia, EnviarMensagemOut, EnviarTemplate, EnviarTexto, MediaUploadIn, MediaUploadOut, Mensagem, TemplatesPage } from "../api/types";
import { formatTamanho, previewTemplate, variaveisDe } from "../lib/format";
import { type MensagensData, PENDING_PREFIX, upsertMensagem } from "../live/reducers";
import { PickerRespostas, textoDe, useSugestoes } from "./RespostasRapidas";
import { uploadComProgresso } from "./upload";

function mediaTypeDe(mime: string): EnviarMedia["media_type"] {
  if (mime === "image/jpeg" || mime === "image/png") return "image";
  if (mime.startsWith("audio/")) return "audio";
  if (mime === "video/mp4" || mime === "video/3gpp") return "video";
  return "document";
}

type ComposerProps = { conversa: ConversaItem; meId: string; respondendo?: Mensagem | null; onCancelarResposta?: () => void };

export function Composer({ conversa, meId, respondendo = null, onCancelarResposta }: ComposerProps) {
  const client = useQueryClient();
  const [texto, setTexto] = useState("");
  const [arquivo, setArquivo] = useState<File | null>(null);
  const [progresso, setProgresso] = useState<number | null>(null);
  const [erro, setErro] = useState<string | null>(null);
  const [enviando, setEnviando] = useState(false);
  const [templateAberto, setTemplateAberto] = useState(false);
  // One key per composed message, kept across retries so the API sends it once.
  const chave = useRef<string | null>(null);
  const upload = useRef<{ file: File; upload_id: string } | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);

  const deOutro = conversa.atendente_id !== null && conversa.atendente_id !== meId;
  const encerrada = conversa.status === "encerrada";
  const cacheKey = ["mensagens", conversa.id];
  const sugestoes = useSugestoes(conversa.id, texto);
  const ultimoDigitando = useRef(0);

  const enviar = async (body: EnviarTexto | EnviarMedia | EnviarTemplate, previa: string) => {
    chave.current ??= crypto.randomUUID();
    const key = chave.current;
    const pendingId = PENDING_PREFIX + key;
    const pendente: Mensagem = {
      id: pendingId,
      conversa_id: conversa.id,
      direcao: "saida",
      tipo: body.tipo,
      conteudo: previa,
      status_envio: "pendente",
      enviado_por: meId,
      enviado_por_nome: null,
      created_at: new Date().toISOString(),
      updated_at: new Date().toISOString(),
      billing_category: null,
      dados: {},
      media_mime: null,
      media_type: null,
      media_url: null,
      thumbnail_url: null,
      whatsapp_id: null,
    };
    client.setQueryData<MensagensData>(cacheKey, (data) => (data ? upsertMensagem(data, pendente) : data));
    try {
      const out = await api<EnviarMensagemOut>(`/conversas/${conversa.id}/mensagens`, { method: "POST", body, headers: { "Idempotency-Key": key } });
      client.setQueryData<MensagensData>(cacheKey, (data) => (data ? upsertMensagem(data, out.mensagem as Mensagem, pendingId) : data));
      chave.current = null;
      return true;
    } catch (error) {
      client.setQueryData<MensagensData>(cacheKey, (data) =>
        data ? { ...data, pages: data.pages.map((p) => ({ ...p, items: p.items.filter((m) => m.id !== pendingId) })) } : data,
      );
      if (error instanceof ApiError && error.status >= 400 && error.status < 500 && error.code !== "TooManyRequests") chave.current = null;
      if (error instanceof ApiError && (error.code === "AssignedToOther" || error.code === "WindowClosed")) {
        void client.invalidateQueries({ queryKey: ["conversa", conversa.id] });
      }
      setErro(errorMessage(error));
      return false;
    }
  };

  const enviarAtual = async () => {
    if (enviando) return;
    const conteudo = texto.trim();
    if (!arquivo && !conteudo) return;
    setEnviando(true);
    setErro(null);
    try {
      if (arquivo) {
        let feito = upload.current?.file === arquivo ? upload.current : null;
        if (!feito) {
          const mime = arquivo.type || "application/octet-stream";
          const pedido: MediaUploadIn = { media_type: mediaTypeDe(mime), mime_type: mime, size: arquivo.size, filename: arquivo.name };
          const destino = await api<MediaUploadOut>("/media/uploads", { method: "POST", body: pedido });
          setProgresso(0);
          await uploadComProgresso(destino, arquivo, setProgresso);
          feito = { file: arquivo, upload_id: destino.upload_id };
          upload.current = feito;
        }
        const mime = arquivo.type || "application/octet-stream";
        const ok = await enviar(
          { tipo: "media", media_type: mediaTypeDe(mime), mime_type: mime, upload_id: feito.upload_id, filename: arquivo.name, caption: conteudo || null },
          conteudo || arquivo.name,
        );
        if (ok) {
          setArquivo(null);
          upload.current = null;
          setTexto("");
        }
      } else if (await enviar({ tipo: "texto", conteudo, ...(respondendo ? { responder_a: respondendo.id } : {}) }, conteudo)) {
        setTexto("");
        onCancelarResposta?.();
      }
    } catch (error) {
      setErro(errorMessage(error));
    } finally {
      setEnviando(false);
      setProgresso(null);
    }
  };

  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.key === "Enter" && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      if (sugestoes[0]) return setTexto(textoDe(sugestoes[0])); // "/preco" + Enter: the first quick reply
      void enviarAtual();
    }
  };

  if (encerrada) {
    return (
      <div className="composer aviso-composer">
        <p>Conversa encerrada. Reabra para responder.</p>
      </div>
    );
  }
  if (!conversa.janela_aberta) {
    return (
      <div className="composer">
        <p className="janela-fechada">Janela de 24 horas fechada</p>
        <p className="dica">O cliente não escreve há mais de 24 horas: só um template aprovado pode ser enviado.</p>
        {templateAberto ? (
          <TemplateForm disabled={deOutro} onCancelar={() => setTemplateAberto(false)} onEnviar={async (body, previa) => (await enviar(body, previa)) && setTemplateAberto(false)} />
        ) : (
          <button type="button" disabled={deOutro} onClick={() => setTemplateAberto(true)}>
            Enviar template
          </button>
        )}
        {erro && (
          <p role="alert" className="erro">
            {erro}
          </p>
        )}
      </div>
    );
  }
  return (
    <form
      className="composer"
      onSubmit={(e) => {
        e.preventDefault();
        void enviarAtual();
      }}
    >
      {deOutro && <p className="dica">Atendida por {conversa.atendente?.nome ?? "outro atendente"}: só quem atende pode responder.</p>}
      {arquivo && (
        <p className="anexo">
          📎 {arquivo.name} ({formatTamanho(arquivo.size)}){" "}
          <button type="button" onClick={() => setArquivo(null)} disabled={enviando}>
            Remover anexo
          </button>
        </p>
      )}
      {respondendo && (
        <p className="respondendo">
          Respondendo a: <q>{respondendo.conteudo || "mensagem"}</q>{" "}
          <button type="button" onClick={onCancelarResposta}>
            Cancelar resposta
          </button>
        </p>
      )}
      <PickerRespostas sugestoes={sugestoes} onEscolher={setTexto} />
      {progresso !== null && <progress aria-label="Envio do arquivo" max={1} value={progresso} />}
      <div className="linha-composer">
        <input
          ref={fileInput}
          type="file"
          className="sr-only"
          tabIndex={-1}
          aria-hidden="true"
          onChange={(e) => {
            setArquivo(e.target.files?.[0] ?? null);
            e.target.value = "";
          }}
        />
        <button type="button" className="anexar" disabled={deOutro || enviando} onClick={() => fileInput.current?.click()}>
          Anexar arquivo
        </button>
        <label htmlFor="mensagem" className="sr-only">
          Mensagem
        </label>
        <textarea
          id="mensagem"
          rows={2}
          placeholder={arquivo ? "Legenda (opcional)" : "Escreva uma mensagem"}
          value={texto}
          disabled={deOutro}
          onChange={(e) => {
            setTexto(e.target.value);
            setErro(null);
            if (Date.now() - ultimoDigitando.current > 10_000 && e.target.value.trim() && !e.target.value.startsWith("/")) {
              ultimoDigitando.current = Date.now(); // WhatsApp shows "digitando…" (the API rate-limits too)
              void api(`/conversas/${conversa.id}/digitando`, { method: "POST" }).catch(() => undefined);
            }
          }}
          onKeyDown={onKeyDown}
        />
        <button type="submit" disabled={deOutro || enviando || (!texto.trim() && !arquivo)}>
          Enviar
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

function TemplateForm({ disabled, onEnviar, onCancelar }: { disabled: boolean; onEnviar: (body: EnviarTemplate, previa: string) => Promise<unknown>; onCancelar: () => void }) {
  const templates = useQuery({ queryKey: ["templates"], queryFn: () => api<TemplatesPage>("/templates?status=approved&limit=100") });
  const aprovados = (templates.data?.items ?? []).filter((t) => t.status === "approved");
  const [id, setId] = useState("");
  const [valores, setValores] = useState<string[]>([]);
  const [enviando, setEnviando] = useState(false);
  const template = aprovados.find((t) => t.id === id);
  const variaveis = template ? variaveisDe(template.variables) : [];
  const previa = template ? previewTemplate(template.body, variaveis, valores) : "";

  return (
    <form
      className="template"
      aria-label="Envio de template"
      onSubmit={async (e) => {
        e.preventDefault();
        if (!template) return;
        setEnviando(true);
        await onEnviar({ tipo: "template", name: template.name, language: template.language, parametros: variaveis.map((_, i) => valores[i] ?? "") }, previa);
        setEnviando(false);
      }}
    >
      <label htmlFor="template">Template</label>
      <select
        id="template"
        value={id}
        required
        onChange={(e) => {
          setId(e.target.value);
          setValores([]);
        }}
      >
        <option value="">Escolha um template aprovado…</option>
        {aprovados.map((t) => (
          <option key={t.id} value={t.id}>
            {t.name} ({t.language})
          </option>
        ))}
      </select>
      {variaveis.map((v, i) => (
        <div key={`${v.component ?? "body"}-${v.name}`} className="parametro">
          <label htmlFor={`param-${i}`}>{`Parâmetro {{${v.name}}}`}</label>
          <input
            id={`param-${i}`}
            required
            placeholder={v.example ?? ""}
            value={valores[i] ?? ""}
            onChange={(e) => {
              const novos = [...valores];
              novos[i] = e.target.value;
              setValores(novos);
            }}
          />
        </div>
      ))}
      {template && (
        <div className="previa-template" aria-label="Prévia do template" role="region">
          {previa}
        </div>
      )}
      <div className="botoes">
        <button type="submit" disabled={disabled || enviando || !template}>
          Enviar template
        </button>
        <button type="button" onClick={onCancelar}>
          Cancelar
        </button>
      </div>
    </form>
  );
}
