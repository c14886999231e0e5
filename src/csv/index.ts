/** CSV in and out: files from banks and custodians read with csv-parse, reports written with csv-stringify. */
export {
  CSV_PROBLEMS_MAX,
  CSV_QUOTING_ERRORS_MAX,
  CSV_RECORD_CHARS_MAX,
  CSV_SEPARATORS,
  CsvProblems,
  csvPlace,
  describeCsvProblem,
  readCsv,
  type CsvFile,
  type CsvProblem,
  type CsvRow,
  type CsvSeparator,
} from './read.js';
export { spreadsheetSafe, writeCsv, type CsvCell } from './write.js';
