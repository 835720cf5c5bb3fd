/** Caps on a CEL expression, checked before and after parsing, without recursion. */
export interface ExpressionLimits {
  /** UTF-8 bytes of the expression text. */
  readonly maxExpressionBytes: number;
  /** Nesting of `(`, `[` and `{` in the text, scanned before the (recursive) parser runs. */
  readonly maxNesting: number;
  readonly maxAstNodes: number;
  /** Depth of the parsed tree, macros expanded. */
  readonly maxAstDepth: number;
  /** Comprehensions (`all`, `exists`, `map`, `filter`…) inside comprehensions. */
  readonly maxComprehensionNesting: number;
  /** Characters of one string or bytes literal. */
  readonly maxStringLiteral: number;
  /** Elements of one list or map literal. */
  readonly maxAggregateLiteral: number;
}

/** Caps on the JSON input a decision reads, checked in one iterative pass. */
export interface InputLimits {
  /** Approximate encoded size: characters of every string and key, plus one per value. */
  readonly maxBytes: number;
  readonly maxDepth: number;
  readonly maxListLength: number;
  readonly maxMapSize: number;
  readonly maxStringLength: number;
}

/** Caps on one evaluation. Steps and sizes are deterministic; the deadline is a wall-clock backstop. */
export interface EvaluationLimits {
  /** Comprehension iterations one expression may run. */
  readonly maxStepsPerExpression: number;
  /** Comprehension iterations one decision may run, over every expression it evaluates. */
  readonly maxStepsPerDecision: number;
  /** Elements of a list or map an expression builds. */
  readonly maxValueElements: number;
  /** Characters (or bytes) of a string an expression builds. */
  readonly maxValueChars: number;
  /** Wall-clock milliseconds for a whole decision; past it every remaining evaluation is an error. */
  readonly deadlineMs: number;
}

export const EXPRESSION_LIMITS: ExpressionLimits = {
  maxExpressionBytes: 4096,
  maxNesting: 32,
  maxAstNodes: 2000,
  maxAstDepth: 32,
  maxComprehensionNesting: 2,
  maxStringLiteral: 1024,
  maxAggregateLiteral: 256,
};

export const INPUT_LIMITS: InputLimits = {
  maxBytes: 4 * 1024 * 1024,
  maxDepth: 32,
  maxListLength: 10_000,
  maxMapSize: 10_000,
  maxStringLength: 64 * 1024,
};

export const EVALUATION_LIMITS: EvaluationLimits = {
  maxStepsPerExpression: 100_000,
  maxStepsPerDecision: 1_000_000,
  maxValueElements: 100_000,
  maxValueChars: 4 * 1024 * 1024,
  deadlineMs: 2000,
};

/** Caps on policy documents and test files read from disk. */
export const DOCUMENT_LIMITS = {
  maxFileBytes: 1024 * 1024,
  maxDocumentsPerFile: 64,
  maxFiles: 512,
  maxYamlAliases: 50,
  maxPolicies: 256,
  maxValidations: 64,
  maxVariables: 32,
  maxMatchConditions: 16,
  maxParams: 32,
  maxBindings: 256,
  maxExceptions: 256,
  maxActions: 32,
  maxCases: 1000,
  maxPatchOps: 64,
  /** An exception may be approved for at most this long. */
  maxExceptionDays: 90,
  maxFixtureBytes: 4 * 1024 * 1024,
} as const;
