import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository root: the CLI runs from there, as the bin script makes it. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI_TIMEOUT_MS = 60_000;

export interface CliRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `file args` with the test's environment plus `env`, collecting its output. */
export function runFile(file: string, args: readonly string[], env: Readonly<Record<string, string>>, cwd = ROOT): Promise<CliRun> {
  const child = spawn(file, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], timeout: CLI_TIMEOUT_MS });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** `potledger <args>`, run the way the bin script runs it. */
export function runPotledger(args: readonly string[], env: Readonly<Record<string, string>>): Promise<CliRun> {
  return runFile(process.execPath, ['--import', 'tsx', 'src/cli/potledger.ts', ...args], env);
}
