// Mocha's spec reporter plus one closing line in the form CI reads: "N passed, N failed, N skipped".
'use strict';
// eslint-disable-next-line @typescript-eslint/no-require-imports -- mocha loads reporters with require()
const Mocha = require('mocha');

class SpecWithTotals extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      const s = this.stats;
      process.stdout.write(`\n${s.passes} passed, ${s.failures} failed, ${s.pending} skipped\n`);
    });
  }
}

module.exports = SpecWithTotals;
