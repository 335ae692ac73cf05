"""Salesforce's Pub/Sub API wire contract, shared by the emulator and the product.

Imports neither side. ``pubsub_api_pb2`` / ``pubsub_api_pb2_grpc`` are generated from
``pubsub_api.proto`` by ``make proto``; ``avro`` encodes and decodes event payloads.
"""
