import { useEffect, useState } from "react";

/** The current time, refreshed every 30 s: countdowns and "today" labels follow it. */
export function useAgora(): Date {
  const [agora, setAgora] = useState(() => new Date());
  useEffect(() => {
    const timer = setInterval(() => setAgora(new Date()), 30_000);
    return () => clearInterval(timer);
  }, []);
  return agora;
}
