export { Builder, Constants, type Attributes } from "./builder.ts";
export { InputError } from "./errors.ts";
export { writeFileAtomic } from "./files.ts";
export { inspectFile, inspectModel, weightSource, type LstmSummary, type ModelSummary, type TensorSummary } from "./inspect.ts";
export { loadModel, parseModel, saveModel, serializeModel } from "./io.ts";
export { Graph, Model, Node, Value, graphsOf, makeAttribute, makeValueInfo, newModel, nodesOf, type AttributeValue, type NewNode } from "./ir.ts";
export { findRoles, realInputs, roleOf, tokenLookups, type ClassifierRoles, type TokenLookup } from "./roles.ts";
export { DataType, Tensor, dataTypeName, isFloatType, numElements, pack4, storageBytes, unpack4, type TensorData } from "./tensor.ts";
export { SUPPORTED, loadValidModel, validateGraph, validateModel } from "./validate.ts";
