"use client";
/** Present ADMIN_TOKEN once: the server checks it and keeps an httpOnly cookie (POST /api/admin/session). */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTRPC } from "@/trpc/react";

export function AdminTokenForm() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const { data: me } = useQuery(trpc.access.me.queryOptions());
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | null>(null);

  async function send(method: "POST" | "DELETE") {
    setError(null);
    const res = await fetch("/api/admin/session", {
      method,
      headers: { "content-type": "application/json" },
      body: method === "POST" ? JSON.stringify({ token }) : undefined,
    });
    if (!res.ok) setError(((await res.json().catch(() => null)) as { error?: string } | null)?.error ?? `HTTP ${res.status}`);
    setToken("");
    await queryClient.invalidateQueries();
  }

  if (!me) return null;
  return (
    <section className="max-w-xl space-y-3" data-testid="admin-session">
      <p data-testid="admin-state">
        {me.admin ? "You have the admin right." : "You are not the admin."}{" "}
        {!me.tokenConfigured && "This server has no ADMIN_TOKEN: requests from the machine itself (loopback) are admin."}
      </p>
      {me.tokenConfigured && !me.admin && (
        <form
          className="flex gap-2"
          onSubmit={(e) => {
            e.preventDefault();
            void send("POST");
          }}
        >
          <label className="sr-only" htmlFor="admin-token">
            Admin token
          </label>
          <input
            id="admin-token"
            type="password"
            autoComplete="off"
            value={token}
            onChange={(e) => setToken(e.target.value)}
            placeholder="ADMIN_TOKEN"
            className="min-w-0 flex-1 rounded-md border border-slate-300 px-3 py-1.5 dark:border-slate-700 dark:bg-slate-900"
          />
          <button type="submit" className="rounded-md bg-brand-600 px-3 py-1.5 text-white disabled:opacity-50" disabled={!token}>
            Sign in
          </button>
        </form>
      )}
      {me.tokenConfigured && me.admin && (
        <button type="button" className="rounded-md border border-slate-300 px-3 py-1.5 dark:border-slate-700" onClick={() => void send("DELETE")}>
          Sign out
        </button>
      )}
      {error && (
        <p role="alert" className="text-sm text-red-700 dark:text-red-300">
          {error}
        </p>
      )}
    </section>
  );
}
