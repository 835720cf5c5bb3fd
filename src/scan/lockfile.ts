// The lockfile graph is a model type now; this keeps the scan stage's import path.
export * from '../model/lockfile.js';
