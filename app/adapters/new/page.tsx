import type { Metadata } from "next";
import { AdapterUploadForm } from "@/components/adapters-upload/adapter-upload-form";
import { loadTaskCards } from "@/server/eval/tasks";

export const metadata: Metadata = { title: "Add an adapter" };
export const dynamic = "force-dynamic";

export default function NewAdapterPage() {
  const tasks = loadTaskCards().map((t) => ({ slug: t.slug, name: t.name, inputColumns: t.input_columns }));
  return (
    <article className="space-y-6">
      <header className="space-y-2">
        <h1 className="text-2xl font-semibold tracking-tight">Add your own adapter</h1>
        <p className="max-w-2xl text-slate-600 dark:text-slate-300">
          A PEFT LoRA adapter of the model this worker serves. It is validated against the base model, stored in the data directory, registered with the
          worker and listed in the catalog.
        </p>
      </header>
      <AdapterUploadForm tasks={tasks} />
    </article>
  );
}
