/**
 *   stream   <prefix>-custodian   subjects <prefix>.custodian.instruction (Trust → custodian)
 *                                          <prefix>.custodian.report      (custodian → Trust)
 *   consumer <prefix>-desk        the dealing desk's durable consumer of reports
 *   consumer <prefix>-custodian   the custodian's (simulator's) durable consumer of instructions
 * Message ids (`place:<trade>`, `<kind>:<trade>`) let JetStream drop a re-send within its window; the
 * receivers are idempotent beyond it.
 */
export function custodianNames(prefix: string) {
  return {
    stream: `${prefix}-custodian`,
    instructionSubject: `${prefix}.custodian.instruction`,
    reportSubject: `${prefix}.custodian.report`,
    deskConsumer: `${prefix}-desk`,
    custodianConsumer: `${prefix}-custodian`,
  };
}

export type CustodianNames = ReturnType<typeof custodianNames>;
