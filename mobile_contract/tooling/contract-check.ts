// Type-checked (tsc --noEmit --strict) beside the client types openapi-typescript generates from
// ../openapi.yaml (devtools/contract_lint.py): every error status of every operation carries an
// enumerated `code`, so an app can switch on it exhaustively. A response whose code is a bare
// `string` fails to compile here, naming the operation and the status.
import type { operations } from "./schema";

type Json<R> = R extends { content: { "application/json": infer B } } ? B : never;
type ErrorCode<R> = Json<R> extends { error: { code: infer C } } ? C : never;
type Success = 200 | 201 | 204;

type OpenCodes = {
  [O in keyof operations]: {
    [S in keyof operations[O]["responses"]]: S extends Success
      ? never
      : string extends ErrorCode<operations[O]["responses"][S]>
        ? [O, S]
        : never;
  }[keyof operations[O]["responses"]];
}[keyof operations];

export const everyErrorCodeIsEnumerated: [OpenCodes] extends [never] ? true : OpenCodes = true;
