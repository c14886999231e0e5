// Checks the shape of the source tree that issue 17 asks for: no file in src/ over a named line count, and
// no outcome read through an `as { kind: string … }` cast instead of the typed WireOutcome.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/** The longest a source file may grow: past this it holds more than one job and should be split (issue 17). */
const SOURCE_FILE_LINES_MAX = 400;
/** A cast of an outcome to a hand-written shape; outcomes are typed WireOutcome and need none (issue 17). */
const OUTCOME_CAST = 'as { kind: string';
/** How deep the walk goes below src/: far more than the tree needs, so a symlink loop cannot run forever. */
const SOURCE_DEPTH_MAX = 16;

/** Every TypeScript file under `directory`. */
function sourceFiles(directory: string, depth = 0): string[] {
  if (depth > SOURCE_DEPTH_MAX) throw new Error(`${directory} is more than ${SOURCE_DEPTH_MAX} folders below src/`);
  return readdirSync(directory).flatMap((name) => {
    const path = join(directory, name);
    if (statSync(path).isDirectory()) return sourceFiles(path, depth + 1);
    return path.endsWith('.ts') ? [path] : [];
  });
}

/** Lines as `wc -l` counts them: a final newline ends the last line rather than starting another. */
function lineCount(text: string): number {
  const lines = text.split('\n').length;
  return text.endsWith('\n') ? lines - 1 : lines;
}

describe('the source tree', () => {
  const files = sourceFiles('src');

  it('has source files to check', () => {
    expect(files.length).toBeGreaterThan(50);
  });

  it(`has no file over ${SOURCE_FILE_LINES_MAX} lines`, () => {
    const offenders = files
      .map((path) => ({ path, lines: lineCount(readFileSync(path, 'utf8')) }))
      .filter(({ lines }) => lines > SOURCE_FILE_LINES_MAX)
      .map(({ path, lines }) => `${path}: ${lines} lines`);
    expect(offenders).toEqual([]);
  });

  it(`casts no outcome with \`${OUTCOME_CAST}\``, () => {
    const offenders = files.flatMap((path) =>
      readFileSync(path, 'utf8')
        .split('\n')
        .flatMap((line, index) => (line.includes(OUTCOME_CAST) ? [`${path}:${index + 1}: ${line.trim()}`] : [])),
    );
    expect(offenders).toEqual([]);
  });
});
