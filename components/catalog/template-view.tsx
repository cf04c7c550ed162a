/**
 * A completion-style prompt template with its `{column}` variables highlighted (`{{`/`}}` are
 * literal braces, Python str.format rules), exactly as the adapter was trained with it.
 */
export function templateParts(template: string): { text: string; variable: boolean }[] {
  const parts: { text: string; variable: boolean }[] = [];
  let text = "";
  for (let i = 0; i < template.length; i++) {
    const c = template[i]!;
    if ((c === "{" || c === "}") && template[i + 1] === c) {
      text += c;
      i++;
    } else if (c === "{") {
      const end = template.indexOf("}", i);
      if (end === -1) {
        text += c;
        continue;
      }
      if (text) parts.push({ text, variable: false });
      text = "";
      parts.push({ text: template.slice(i + 1, end), variable: true });
      i = end;
    } else text += c;
  }
  if (text) parts.push({ text, variable: false });
  return parts;
}

export function TemplateView({ template }: { template: string }) {
  return (
    <pre className="overflow-x-auto whitespace-pre-wrap break-words rounded-lg bg-slate-50 p-4 font-mono text-sm leading-relaxed dark:bg-slate-900" data-testid="prompt-template">
      {templateParts(template).map((p, i) =>
        p.variable ? (
          <mark key={i} className="rounded bg-brand-100 px-1 text-brand-700 dark:bg-brand-700 dark:text-white">
            {`{${p.text}}`}
          </mark>
        ) : (
          <span key={i}>{p.text}</span>
        ),
      )}
    </pre>
  );
}
