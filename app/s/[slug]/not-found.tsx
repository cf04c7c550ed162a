import Link from "next/link";

export default function ShareNotFound() {
  return (
    <div className="mx-auto max-w-lg py-16 text-center" data-testid="share-not-found">
      <h1 className="text-xl font-semibold">This share does not exist</h1>
      <p className="mt-2 text-sm text-slate-600 dark:text-slate-400">The link is wrong, or its owner revoked it.</p>
      <Link href="/playground" className="mt-4 inline-block underline">Open the playground</Link>
    </div>
  );
}
