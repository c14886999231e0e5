import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import openapiTS, { astToString } from 'openapi-typescript';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiDocument } from '../../src/api/write-openapi.js';

/**
 * A client generated from /openapi.json, as a team that generates its client would (openapi-typescript):
 * it reads an outcome with no cast, narrowed by `kind`, and the compiler refuses a read the outcome's
 * kind does not allow.
 */
let directory: string;

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'potledger-openapi-client-'));
  const types = astToString(await openapiTS(JSON.parse(JSON.stringify(await openApiDocument())) as Parameters<typeof openapiTS>[0]));
  await writeFile(join(directory, 'potledger-api.d.ts'), types);
});
afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

/** A client's code, reading answers through the generated types only. */
const CLIENT = `
import type { components, operations } from './potledger-api.js';

type Deposited = operations['submitCashDeposit']['responses'][200]['content']['application/json'];
type Refused = operations['submitCashDeposit']['responses'][422]['content']['application/problem+json'];

export function movementOf(answer: Deposited): string {
  const outcome = answer.outcome;
  if (outcome === undefined) return answer.status;
  switch (outcome.kind) {
    case 'applied':
      return outcome.movement.movementId + outcome.movement.entries.map((entry) => entry.amount).join();
    case 'corrected':
      return outcome.movement.movementId + outcome.violations.join() + outcome.original.entries.length;
    case 'rejected':
      return outcome.code + outcome.reason;
  }
}

export function reasonOf(problem: Refused): string {
  return problem.outcome?.kind === 'rejected' ? problem.outcome.reason : problem.code;
}

export function changeOf(movement: components['schemas']['Movement']): string {
  const change = movement.potChange;
  if (change?.type === 'hold') return change.expiresAt + change.amountMinor;
  if (change?.type === 'rebalance') return change.legs.map((leg) => (leg.side === 'sell' ? leg.units : leg.amount)).join();
  return movement.orderChange?.type === 'allocate' ? movement.orderChange.unitsMinor : '';
}
`;

/** The same client reading a movement before it knows the outcome has one. */
const CARELESS_CLIENT = `
import type { operations } from './potledger-api.js';

type Deposited = operations['submitCashDeposit']['responses'][200]['content']['application/json'];

export function movementOf(answer: Deposited): string {
  return answer.outcome?.movement.movementId ?? '';
}
`;

async function compile(name: string, source: string): Promise<string[]> {
  const file = join(directory, name);
  await writeFile(file, source);
  const program = ts.createProgram([file], {
    strict: true,
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    noEmit: true,
    types: [],
  });
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
}

describe('a client generated from /openapi.json', () => {
  it('reads an outcome, its movement and its pot change with no cast', async () => {
    expect(await compile('client.ts', CLIENT)).toEqual([]);
  });

  it('is refused by the compiler when it reads a movement the outcome may not have', async () => {
    const diagnostics = await compile('careless-client.ts', CARELESS_CLIENT);
    expect(diagnostics.join('\n')).toMatch(/Property 'movement' does not exist/);
  });
});
