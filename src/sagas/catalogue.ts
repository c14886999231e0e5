import { isFanOutSpec, isFinalSpec, isPausedSpec, targetsOf, type Saga } from './define.js';
import type { SagaRegistry } from './registry.js';

/**
 * The sagas section of docs/CATALOGUE.md, generated from the saga registry (src/cli/catalogue.ts puts it
 * in): each saga's states, the step each sends with its processes and command id, and where it leads.
 */
export function sagaCatalogueLines(registry: SagaRegistry): string[] {
  const lines = ['## Sagas', '', 'Driven by the saga engine (src/sagas): each step is sent once under its id, and moves the saga on by its outcome.', ''];
  for (const saga of registry.list()) lines.push(...sagaLines(saga));
  return lines;
}

function sagaLines(saga: Saga): string[] {
  const lines = [`### \`${saga.name}\` saga`, '', saga.describe, '', '| state | what happens | sends | command id | leads to |', '|---|---|---|---|---|'];
  for (const state of saga.states) {
    const spec = saga.spec(state);
    const targets = targetsOf(spec).map((target) => `\`${target}\``).join(', ');
    if (isFinalSpec(spec)) {
      lines.push(`| \`${state}\` | final${about(spec.describe)} | | | |`);
    } else if (isPausedSpec(spec)) {
      const decisions = Object.entries(spec.paused.decisions).map(([decision, to]) => `${decision} → \`${to}\``).join('; ');
      lines.push(`| \`${state}\` | paused for an operator${about(spec.describe)} | | | ${decisions} |`);
    } else if (isFanOutSpec(spec)) {
      const processes = spec.processes.map((process) => `\`${process}\``).join(', ');
      lines.push(`| \`${state}\` | fan-out step \`${spec.step}\`${about(spec.describe)} | ${processes} | \`${saga.commandId('<id>', spec.step, '<key>')}\` | ${targets} |`);
    } else {
      lines.push(`| \`${state}\` | step \`${spec.step}\`${about(spec.describe)} | \`${spec.process}\` | \`${saga.commandId('<id>', spec.step)}\` | ${targets} |`);
    }
  }
  lines.push('');
  return lines;
}

function about(describe: string | undefined): string {
  return describe === undefined ? '' : `: ${describe}`;
}
