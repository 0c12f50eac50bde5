-- 0004: the media pipeline's extra columns on media_files (issue 4).

ALTER TABLE media_files
    -- sha256 of the stored bytes, base64 as WhatsApp gives it: proves the object in S3 is
    -- exactly what the customer sent, and lets a redelivery reuse an object already uploaded.
    ADD COLUMN sha256  varchar(64),
    -- Pixel size of an image or sticker after EXIF orientation, so the inbox can reserve
    -- the right space before the thumbnail loads (no layout jump). NULL for other media.
    ADD COLUMN width   integer CHECK (width > 0),
    ADD COLUMN height  integer CHECK (height > 0);
