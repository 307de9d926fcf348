// The bundle's entry: everything it exposes, as `window.Uppy`.
import AwsS3 from '@uppy/aws-s3'
import Uppy from '@uppy/core'
import Dashboard from '@uppy/dashboard'
import GoldenRetriever from '@uppy/golden-retriever'

export { AwsS3, Dashboard, GoldenRetriever, Uppy }
