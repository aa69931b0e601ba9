"""Local stand-ins of Google Cloud for tests: the Cloud Storage and Pub/Sub emulators, and fakes of the Cloud Run
Admin and Cloud Functions APIs that run our real worker entry points as local processes.
"""
