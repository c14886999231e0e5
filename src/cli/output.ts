import cliProgress from 'cli-progress';

/**
 * What the commands print. With --json, exactly one JSON document goes to stdout (amounts stay decimal
 * strings and sequences stay strings, never rounded numbers); otherwise lines for a person. Messages
 * about the run itself go to stderr, so a pipe never mixes them into the answer.
 */
export function printJson(document: unknown): void {
  process.stdout.write(`${JSON.stringify(document)}\n`);
}

export function printLines(lines: readonly string[]): void {
  process.stdout.write(lines.length === 0 ? '' : `${lines.join('\n')}\n`);
}

export function printNotice(message: string): void {
  process.stderr.write(`${message}\n`);
}

export interface Column {
  readonly title: string;
  /** Numbers and amounts line up on the right. */
  readonly align?: 'left' | 'right';
}

/** Rows under their titles, each column as wide as its widest cell. */
export function formatTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string[] {
  const widths = columns.map((column, index) => Math.max(column.title.length, ...rows.map((row) => (row[index] ?? '').length)));
  const line = (cells: readonly string[]) =>
    columns
      .map((column, index) => {
        const cell = cells[index] ?? '';
        const width = widths[index] ?? 0;
        return column.align === 'right' ? cell.padStart(width) : cell.padEnd(width);
      })
      .join('  ')
      .trimEnd();
  return [line(columns.map((column) => column.title)), ...rows.map(line)];
}

/**
 * A progress bar on stderr for a person watching: none in a pipe or a log, or beside --json. `update`
 * takes how much is done of how much.
 */
export function progressBar(enabled: boolean, format: string): { update(done: number, total: number): void; stop(): void } {
  if (!enabled || process.stderr.isTTY !== true) return { update: () => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar({ stream: process.stderr, format, clearOnComplete: true, hideCursor: true }, cliProgress.Presets.shades_classic);
  let started = false;
  return {
    update(done, total) {
      if (started) bar.update(done);
      else bar.start(total, done);
      started = true;
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
