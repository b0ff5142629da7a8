export { InputError } from "./errors.ts";
export { processAlive, removeStaleTemps, openRegularFile, readInputFile, removeTempsOnSignals, stageFiles, writeFileAtomic, writeFilesAtomic, type FileToWrite, type StagedFiles } from "./files.ts";
export { checkOutputs, sameFile, type NamedPath, type OutputPlan } from "./outputs.ts";
export { inspectModel, weightSource, type LstmSummary, type ModelSummary, type TensorSummary } from "./inspect.ts";
export { externalDataFiles, loadModel, parseModel, saveModel, serializeModel } from "./io.ts";
export { Graph, Model, Node, Value, makeAttribute, makeValueInfo, newModel, type AttributeValue, type NewNode } from "./ir.ts";
export { findRoles, realInputs, roleOf, tokenLookups, type ClassifierRoles, type TokenLookup } from "./roles.ts";
export { DataType, Tensor, dataTypeName, isFloatType, numElements, pack4, storageBytes, tensorDataProblem, unpack4, type TensorData } from "./tensor.ts";
export { SUPPORTED, WEIGHT_MAGNITUDE_WARNING, checkWeights, validateGraph, validateModel, type WeightCheck } from "./validate.ts";
