// HTTP to the API: runtime config, the session token, errors as ApiError with the API's words.
import type { ApiErrorBody } from "./types";

export interface RuntimeConfig {
  apiUrl: string;
  wsUrl: string;
  vapidPublicKey: string | null;
}

let config: RuntimeConfig | null = null;

export async function loadConfig(): Promise<RuntimeConfig> {
  if (!config) {
    const response = await fetch("/config.json", { cache: "no-store" });
    config = (await response.json()) as RuntimeConfig;
  }
  return config;
}

export function getConfig(): RuntimeConfig {
  if (!config) throw new Error("config.json not loaded");
  return config;
}

const TOKEN_KEY = "crm-inbox.session";

export interface Session {
  token: string;
  expires_at: string;
  administrador: { id: string; nome: string; email: string };
}

export function getSession(): Session | null {
  try {
    const raw = localStorage.getItem(TOKEN_KEY);
    if (!raw) return null;
    const session = JSON.parse(raw) as Session;
    return new Date(session.expires_at).getTime() > Date.now() ? session : null;
  } catch {
    return null;
  }
}

export function setSession(session: Session | null): void {
  if (session) localStorage.setItem(TOKEN_KEY, JSON.stringify(session));
  else localStorage.removeItem(TOKEN_KEY);
  sessionListeners.forEach((listener) => listener());
}

const sessionListeners = new Set<() => void>();
export function onSessionChange(listener: () => void): () => void {
  sessionListeners.add(listener);
  return () => sessionListeners.delete(listener);
}

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    // The contract's error codes, or NetworkError when the API could not be reached.
    public body: Omit<ApiErrorBody, "Code"> & { Code: string } & Record<string, unknown>,
  ) {
    super(message);
  }
}

export const SESSION_EXPIRED = "Sua sessão expirou. Entre novamente.";

export async function api<T>(
  path: string,
  options: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<T> {
  const { apiUrl } = getConfig();
  const session = getSession();
  const headers: Record<string, string> = { ...options.headers };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (session) headers.Authorization = `Bearer ${session.token}`;
  let response: Response;
  try {
    response = await fetch(apiUrl + path, {
      method: options.method ?? "GET",
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
  } catch {
    throw new ApiError(0, "NetworkError", "Sem conexão com o servidor. Tente novamente.", {
      Code: "NetworkError",
      Message: "",
    });
  }
  const text = await response.text();
  const data = text ? (JSON.parse(text) as unknown) : {};
  if (!response.ok) {
    const body = data as ApiErrorBody & Record<string, unknown>;
    if (response.status === 401 && session && path !== "/auth/login") {
      setSession(null);
      sessionStorage.setItem("crm-inbox.notice", SESSION_EXPIRED);
    }
    throw new ApiError(response.status, body.Code ?? "Error", body.Message ?? `Erro ${response.status}`, body);
  }
  return data as T;
}

export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  return "Algo deu errado. Tente novamente.";
}
