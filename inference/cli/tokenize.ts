import { Tokenizer } from "../tokenizer/tokenizer";
import { parseArgs, runCommand } from "./args";

/** `cli tokenize --model DIR --text "..."` -> {"ids":[...]} (with the post-processor's special tokens) */
export function run(argv: string[]): Promise<number> {
  return runCommand(async () => {
    const args = parseArgs(argv, { string: ["model", "text"], required: ["model", "text"] });
    const tokenizer = await Tokenizer.load(args.values.model!);
    process.stdout.write(`${JSON.stringify({ ids: tokenizer.encode(args.values.text!) })}\n`);
    return 0;
  });
}
