/**
 * The OpenAI Files and Uploads shapes Tierline answers.
 * https://platform.openai.com/docs/api-reference/files,
 * https://platform.openai.com/docs/api-reference/uploads
 */

export type OpenAIFilePurpose = 'batch' | 'batch_output' | 'fine-tune' | 'fine-tune-results';

export interface OpenAIFile {
  id: string;
  object: 'file';
  bytes: number;
  created_at: number;
  filename: string;
  purpose: OpenAIFilePurpose;
  /** Deprecated by OpenAI but still required by its schema: a stored file is always `processed` here. */
  status: 'uploaded' | 'processed' | 'error';
}

export interface OpenAIFileList {
  object: 'list';
  data: OpenAIFile[];
  first_id: string;
  last_id: string;
  has_more: boolean;
}

export interface OpenAIFileDeleted {
  id: string;
  object: 'file';
  deleted: true;
}

export interface OpenAIUpload {
  id: string;
  object: 'upload';
  bytes: number;
  created_at: number;
  expires_at: number;
  filename: string;
  purpose: OpenAIFilePurpose;
  status: 'pending' | 'completed' | 'cancelled' | 'expired';
  file: OpenAIFile | null;
}

export interface OpenAIUploadPart {
  id: string;
  object: 'upload.part';
  created_at: number;
  upload_id: string;
}
