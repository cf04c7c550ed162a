"use client";
import Link from "next/link";
import { usePathname } from "next/navigation";
import { ThemeToggle } from "./theme-toggle";

const NAV = [
  { href: "/", label: "Catalog" },
  { href: "/playground", label: "Playground" },
  { href: "/compare", label: "Compare" },
  { href: "/arena", label: "Arena" },
  { href: "/chats", label: "History" },
  { href: "/status", label: "Status" },
  { href: "/train", label: "Train" },
  { href: "/adapters/new", label: "Add adapter" },
];

export function SiteHeader() {
  const pathname = usePathname();
  const active = (href: string) =>
    href === "/" ? pathname === "/" || (pathname.startsWith("/adapters") && !pathname.startsWith("/adapters/new")) : pathname.startsWith(href);
  return (
    <header className="sticky top-0 z-30 border-b border-slate-200 bg-white/90 backdrop-blur dark:border-slate-800 dark:bg-slate-950/90">
      <div className="mx-auto flex max-w-7xl flex-wrap items-center gap-x-6 gap-y-2 px-4 py-3 sm:px-6">
        <Link href="/" className="flex items-center gap-2 font-semibold tracking-tight">
          <span aria-hidden className="inline-block h-6 w-6 rounded-md bg-gradient-to-br from-brand-500 to-violet-500" />
          LoRA Land
        </Link>
        <nav aria-label="Main" className="order-3 w-full sm:order-none sm:w-auto">
          {/* wraps on a phone: every page stays reachable, nothing hides off-screen */}
          <ul className="flex flex-wrap gap-1 text-sm">
            {NAV.map((item) => (
              <li key={item.href}>
                <Link
                  href={item.href}
                  aria-current={active(item.href) ? "page" : undefined}
                  className={`block rounded-md px-3 py-1.5 whitespace-nowrap ${
                    active(item.href)
                      ? "bg-brand-50 font-medium text-brand-700 dark:bg-slate-800 dark:text-brand-100"
                      : "text-slate-600 hover:bg-slate-100 hover:text-slate-900 dark:text-slate-300 dark:hover:bg-slate-800 dark:hover:text-white"
                  }`}
                >
                  {item.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div className="ml-auto">
          <ThemeToggle />
        </div>
      </div>
    </header>
  );
}
