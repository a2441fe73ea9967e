/**
 * Checks a JSONL file as it streams past, chunk by chunk (a line may span chunks): UTF-8 text, one
 * JSON object per line, at most `maxLines` lines. Problems name their line (1-based), as a client
 * fixes them.
 */

/** Problems reported in one error message; the count of the rest is added. */
const REPORTED_PROBLEMS = 5;

export interface JsonlReport {
  lines: number;
  problems: string[];
  /** Problems beyond those kept in `problems`. */
  moreProblems: number;
}

export class JsonlValidator {
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  /** The pieces of the line not yet ended by a newline: joined once the line ends, so a long line costs linear time. */
  private pending: string[] = [];
  private lines = 0;
  /** Blank lines seen since the last non-blank one: only trailing blank lines are allowed. */
  private blankRun: number[] = [];
  private readonly problems: string[] = [];
  private moreProblems = 0;
  private stoppedAtLimit = false;

  constructor(private readonly maxLines: number) {}

  push(chunk: Uint8Array): void {
    let text: string;
    try {
      text = this.decoder.decode(chunk, { stream: true });
    } catch {
      this.fail(`the file is not UTF-8 text (near line ${this.lines + 1})`);
      this.stoppedAtLimit = true;
      return;
    }
    if (this.stoppedAtLimit) return;
    let start = 0;
    for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
      this.pending.push(text.slice(start, end));
      const line = this.pending.join('');
      this.pending = [];
      this.line(line);
      start = end + 1;
    }
    if (start < text.length) this.pending.push(text.slice(start));
  }

  end(): JsonlReport {
    if (!this.stoppedAtLimit) {
      try {
        this.pending.push(this.decoder.decode());
      } catch {
        this.fail('the file is not UTF-8 text (it ends inside a character)');
      }
      const last = this.pending.join('');
      this.pending = [];
      if (last !== '') this.line(last);
    }
    if (this.lines === 0 && this.problems.length === 0)
      this.fail('the file is empty: it needs at least one line');
    return { lines: this.lines, problems: this.problems, moreProblems: this.moreProblems };
  }

  /** The report as one message, or undefined when the file is valid. */
  static describe(report: JsonlReport): string | undefined {
    if (report.problems.length === 0) return undefined;
    const more = report.moreProblems > 0 ? ` (and ${report.moreProblems} more)` : '';
    return `The file is not valid JSONL: ${report.problems.join('; ')}${more}.`;
  }

  private line(raw: string): void {
    if (this.stoppedAtLimit) return;
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const number = this.lines + this.blankRun.length + 1;
    if (text.trim() === '') {
      this.blankRun.push(number);
      return;
    }
    for (const blank of this.blankRun) this.fail(`line ${blank} is empty`);
    this.blankRun = [];
    this.lines = number;
    if (this.lines > this.maxLines) {
      this.fail(`the file has more than ${this.maxLines} lines, the most a file may have`);
      this.stoppedAtLimit = true;
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      this.fail(`line ${number} is not valid JSON (${(error as Error).message})`);
      return;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.fail(`line ${number} is not a JSON object`);
    }
  }

  private fail(problem: string): void {
    if (this.problems.length < REPORTED_PROBLEMS) this.problems.push(problem);
    else this.moreProblems += 1;
  }
}
