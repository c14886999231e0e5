import type { CommandRequest } from '../sdk/publisher.js';
import type { StepCommand } from './define.js';

/** Turns a saga's typed step command into the publisher's request: the one place a step becomes a command. */
export function requestOf(
  command: StepCommand & { readonly commandId: string },
  audit: { readonly source: string; readonly principal?: string | undefined },
): CommandRequest<StepCommand['payload']> & { readonly commandId: string } {
  return {
    commandId: command.commandId,
    memberId: command.pot.memberId,
    potId: command.pot.potId,
    payload: command.payload,
    source: audit.source,
    ...(command.effectiveDate === undefined ? {} : { effectiveDate: command.effectiveDate }),
    ...(audit.principal === undefined ? {} : { principal: audit.principal }),
  };
}
