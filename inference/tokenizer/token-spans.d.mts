export interface TokenSpan {
  id: number;
  text: string;
  start: number;
  stop: number;
  special: boolean;
}

export function tokenSpans(ids: number[], decode: (ids: number[], skipSpecial: boolean) => string, isSpecial: (id: number) => boolean): TokenSpan[];
