// The real MNIST CNN (../shared/data/mnist-cnn.onnx) on the MNIST test set: int8 per-channel
// (ConvInteger + MatMulInteger with int8 weights) within 0.3 points of FP32, a quarter of the size.
import { test } from 'node:test';
import { mnistModelMissing } from './support/mnist.js';
import { mnistInt8Case } from './support/mnist-int8-case.js';

test('MNIST CNN: int8 per-channel within 0.3 points of FP32', { skip: mnistModelMissing }, () =>
  mnistInt8Case('int8', { perChannel: true }),
);
