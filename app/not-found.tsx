import Link from "next/link";

export default function NotFound() {
  return (
    <div className="mx-auto max-w-xl space-y-3 py-16 text-center">
      <h1 className="text-2xl font-semibold">Not found</h1>
      <p className="text-slate-600 dark:text-slate-300">There is no page or adapter at this address.</p>
      <Link href="/" className="text-brand-700 hover:underline dark:text-brand-300">
        Back to the catalog
      </Link>
    </div>
  );
}
