import type { Metadata } from "next";
import { AdminTokenForm } from "@/components/admin/admin-token-form";

export const metadata: Metadata = { title: "Admin" };
export const dynamic = "force-dynamic";

export default function AdminPage() {
  return (
    <article className="space-y-6">
      <header className="space-y-2">
        <h1 className="text-2xl font-semibold tracking-tight">Admin</h1>
        <p className="max-w-2xl text-slate-600 dark:text-slate-300">
          What every visitor sees — the bundled adapters, other people&apos;s adapters, the catalog&apos;s measured figures — changes only with the admin
          right.
        </p>
      </header>
      <AdminTokenForm />
    </article>
  );
}
