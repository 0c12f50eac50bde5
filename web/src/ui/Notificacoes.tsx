import { useState } from "react";
import { api, getConfig } from "../api/client";

function chave(base64url: string): Uint8Array<ArrayBuffer> {
  const base64 = (base64url + "=".repeat((4 - (base64url.length % 4)) % 4)).replace(/-/g, "+").replace(/_/g, "/");
  const raw = atob(base64);
  const out = new Uint8Array(new ArrayBuffer(raw.length));
  for (let i = 0; i < raw.length; i += 1) out[i] = raw.charCodeAt(i);
  return out;
}

/** "Ativar notificações": the service worker, a Web Push subscription with our VAPID key, sent to the API. */
export function Notificacoes() {
  const [estado, setEstado] = useState<string | null>(null);
  const suportado = "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
  if (!suportado) return null;
  const ativar = async () => {
    try {
      const key = getConfig().vapidPublicKey;
      if (!key) throw new Error("sem chave");
      if ((await Notification.requestPermission()) !== "granted") {
        setEstado("Notificações bloqueadas no navegador.");
        return;
      }
      const registro = await navigator.serviceWorker.register("/sw.js");
      await navigator.serviceWorker.ready;
      const assinatura = (await registro.pushManager.getSubscription()) ?? (await registro.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: chave(key) }));
      await api("/push/subscriptions", { method: "POST", body: assinatura.toJSON() });
      setEstado("Notificações ativadas.");
    } catch {
      setEstado("Não foi possível ativar as notificações.");
    }
  };
  return (
    <>
      <button type="button" onClick={() => void ativar()}>
        Ativar notificações
      </button>
      {estado && (
        <span role="status" className="notif">
          {estado}
        </span>
      )}
    </>
  );
}
